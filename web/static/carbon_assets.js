// The carbon-assets page's chart (ECharts, vendored): per compliance year, verified emissions against the
// allowances held, the CCER usable and what is surrendered. Data comes from a JSON block, not inline script.
(function () {
  "use strict";
  var block = document.getElementById("assets-data");
  var element = document.getElementById("chart-assets");
  if (!block || !element || !window.echarts) return;
  var rows = JSON.parse(block.textContent) || [];
  var labels = JSON.parse(document.getElementById("assets-labels").textContent);
  var chinese = document.documentElement.lang !== "en";
  function compact(value) {
    var size = Math.abs(value);
    if (chinese && size >= 1e4) return +(value / 1e4).toFixed(1) + "万";
    if (!chinese && size >= 1e6) return +(value / 1e6).toFixed(2) + "M";
    if (!chinese && size >= 1e3) return +(value / 1e3).toFixed(1) + "k";
    return String(value);
  }
  function series(key, stack) {
    return { name: labels[key], type: "bar", stack: stack, data: rows.map(function (r) { return r[key]; }) };
  }
  window.echarts.init(element, null, { renderer: "svg" }).setOption({
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { bottom: 0 },
    grid: { left: 60, right: 10, top: 20, bottom: 60 },
    xAxis: { type: "category", data: rows.map(function (r) { return String(r.year); }) },
    yAxis: { type: "value", name: "tCO2e", axisLabel: { formatter: compact } },
    series: [series("verified", "need"), series("held", "have"), series("ccer", "have"), series("surrendered", "done")]
  });
})();
