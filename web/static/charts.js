// The inventory page's charts (ECharts, vendored). Data comes from a JSON block, not inline script.
(function () {
  "use strict";
  var block = document.getElementById("chart-data");
  if (!block || !window.echarts) return;
  var data = JSON.parse(block.textContent);
  if (!data) return;
  var labelBlock = document.getElementById("chart-labels");
  var labels = labelBlock ? JSON.parse(labelBlock.textContent) : { categories: {} };
  // Axis numbers in a few characters (万 / 亿 in Chinese, k / M in English), so that ticks never overlap.
  var chinese = document.documentElement.lang !== "en";
  function compact(value) {
    var size = Math.abs(value);
    if (chinese) {
      if (size >= 1e8) return +(value / 1e8).toFixed(1) + "亿";
      if (size >= 1e4) return +(value / 1e4).toFixed(1) + "万";
    } else {
      if (size >= 1e6) return +(value / 1e6).toFixed(1) + "M";
      if (size >= 1e3) return +(value / 1e3).toFixed(1) + "k";
    }
    return String(+value.toFixed(4));
  }
  var valueAxis = { type: "value", axisLabel: { formatter: compact, hideOverlap: true } };
  function draw(id, option) {
    var element = document.getElementById(id);
    if (element) window.echarts.init(element, null, { renderer: "svg" }).setOption(option);
  }
  var months = Object.keys(data.months);
  var monthSeries = [{ name: labels.emissions || "tCO2e", type: "bar", data: months.map(function (m) { return data.months[m]; }) }];
  data.baselines.forEach(function (b) {
    monthSeries.push({ name: b.name, type: "line", symbol: "none", data: months.map(function () { return b.value / 12; }) });
  });
  draw("chart-months", {
    tooltip: { trigger: "axis" }, legend: {}, xAxis: { type: "category", data: months },
    yAxis: Object.assign({ name: "tCO2e" }, valueAxis), series: monthSeries
  });
  draw("chart-categories", {
    tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["35%", "65%"],
      data: Object.keys(data.categories).map(function (k) {
        return { name: labels.categories[k] || k, value: data.categories[k] };
      }) }]
  });
  // One chart per target: its straight-line path from the base year and the known actual values.
  var holder = document.getElementById("chart-targets");
  (data.targets || []).forEach(function (target, index) {
    if (!holder) return;
    var element = document.createElement("div");
    element.className = "chart";
    element.id = "chart-target-" + index;
    holder.appendChild(element);
    draw(element.id, {
      title: { text: target.name, left: 0, textStyle: { fontSize: 12 } },
      tooltip: { trigger: "axis" }, legend: { right: 0 }, grid: { top: 50 },
      xAxis: { type: "category", data: target.years }, yAxis: { type: "value", name: target.unit },
      series: [
        { name: labels.path, type: "line", data: target.path },
        { name: labels.actual, type: "bar", data: target.actual }
      ]
    });
  });
  var units = Object.keys(data.facilities);
  draw("chart-facilities", {
    tooltip: {}, grid: { left: 8, right: 24, containLabel: true },
    xAxis: Object.assign({ name: "tCO2e", nameLocation: "middle", nameGap: 28 }, valueAxis),
    yAxis: { type: "category", data: units, axisLabel: { width: 150, overflow: "truncate" } },
    series: [{ type: "bar", data: units.map(function (u) { return data.facilities[u]; }) }]
  });
})();
