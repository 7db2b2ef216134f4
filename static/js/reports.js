// Draws each report's chart with ECharts from the JSON beside it (the page's Content-Security-Policy allows no
// inline script: the data comes in <script type="application/json">, named by the chart's data-chart).
(function () {
  "use strict";

  function optionFor(data) {
    var stacked = data.kind === "bar_stacked";
    var type = data.kind === "line" ? "line" : "bar";
    return {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 60, right: 20, top: 36, bottom: 48 },
      xAxis: { type: "category", data: data.categories },
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
