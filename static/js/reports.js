// Draws each report's chart with ECharts from the JSON beside it (the page's Content-Security-Policy allows no
// inline script: the data comes in <script type="application/json">, named by the chart's data-chart).
(function () {
  "use strict";

  // Twelve colours that stay apart from one another, so every channel has its own.
  var PALETTE = [
    "#2f6fdf", "#e8743b", "#19a979", "#d64550", "#8e5ad9", "#c9a227",
    "#1fb5c9", "#9c6b4e", "#e066a8", "#5b6b7f", "#7cb82f", "#0b3c8c",
  ];

  function categoryLabels(categories) {
    // A few named categories (flow nodes, warehouse · carrier) each get their label, slanted and cut when long;
    // days are left to ECharts, which draws as many as fit.
    if (categories.length > 20) return {};
    var longest = categories.reduce(function (most, name) { return Math.max(most, String(name).length); }, 0);
    return longest > 6 ? { interval: 0, rotate: 30, width: 120, overflow: "truncate" } : { interval: 0 };
  }

  function optionFor(data) {
    var stacked = data.kind === "bar_stacked";
    var type = data.kind === "line" ? "line" : "bar";
    return {
      animation: false,
      color: PALETTE,
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      // Room above the plot for the legend and, under it, the unit of the value axis.
      grid: { left: 60, right: 20, top: 64, bottom: 48, containLabel: true },
      xAxis: { type: "category", data: data.categories, axisLabel: categoryLabels(data.categories) },
      yAxis: { type: "value", name: data.unit, minInterval: data.whole ? 1 : 0, max: data.max == null ? undefined : data.max },
      dataZoom: data.categories.length > 31 ? [{ type: "slider", bottom: 4, height: 18 }] : [],
      series: data.series.map(function (series) {
        return {
          name: series.name,
          type: type,
          stack: stacked ? "total" : undefined,
          smooth: false,
          showSymbol: false,
          barMaxWidth: 48,
          data: series.values,
        };
      }),
    };
  }

  function draw() {
    if (typeof window.echarts === "undefined") return;
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var source = document.getElementById(element.getAttribute("data-chart"));
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var chart = window.echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(optionFor(data));
      element.setAttribute("data-drawn", "yes");
      charts.push(chart);
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) { chart.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
