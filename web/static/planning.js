// The risk heat map and the objectives' trend (ECharts, vendored). Data comes from JSON blocks, not inline script.
(function () {
  "use strict";
  if (!window.echarts) return;
  function read(id) {
    var block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  }
  var colors = { low: "#48c78e", medium: "#ffe08a", high: "#f5a05a", very_high: "#f14668" };
  var heat = read("heatmap-data");
  var heatElement = document.getElementById("chart-heatmap");
  if (heat && heatElement) {
    var labels = read("heatmap-labels") || { levels: {} };
    var axis = ["1", "2", "3", "4", "5"];
    var chart = window.echarts.init(heatElement, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      tooltip: {
        formatter: function (p) {
          return labels.likelihood + " " + (p.value[1] + 1) + " × " + labels.impact + " " + (p.value[0] + 1) +
            " = " + (p.value[0] + 1) * (p.value[1] + 1) + "（" + (labels.levels[p.data.level] || "") + "）: " + p.value[2];
        }
      },
      grid: { left: 60, right: 20, top: 20, bottom: 50 },
      xAxis: { type: "category", data: axis, name: labels.impact, nameLocation: "middle", nameGap: 30, splitArea: { show: true } },
      yAxis: { type: "category", data: axis, name: labels.likelihood, nameLocation: "middle", nameGap: 35, splitArea: { show: true } },
      series: [{
        type: "heatmap",
        data: heat.cells.map(function (c) {
          return { value: [c[0], c[1], c[2]], level: c[3], itemStyle: { color: colors[c[3]], borderColor: "#fff", borderWidth: 2 } };
        }),
        label: { show: true, fontSize: 16, fontWeight: "bold", color: "#1a1a1a", formatter: function (p) { return p.value[2] || ""; } }
      }]
    });
    chart.on("click", function (p) {
      var query = "?mode=" + heat.mode + "&nature=" + heat.nature + "&likelihood=" + (p.value[1] + 1) + "&impact=" + (p.value[0] + 1);
      window.location.href = "/risks/heatmap" + query + "#entries";
    });
  }
  var trend = read("trend-data");
  var trendElement = document.getElementById("chart-trend");
  if (trend && trendElement && trend.series.length) {
    window.echarts.init(trendElement, null, { renderer: "svg" }).setOption({
      animation: false,
      tooltip: { trigger: "axis" }, legend: { type: "scroll", bottom: 0 },
      grid: { left: 50, right: 20, top: 20, bottom: 50 },
      xAxis: { type: "category", data: trend.years },
      yAxis: { type: "value", scale: true, axisLabel: { formatter: "{value}%" } },
      series: trend.series.map(function (s) { return { name: s.name, type: "line", connectNulls: true, data: s.data }; })
    });
  }
})();
