/* A post's attached backtest: its equity curve. */
(function () {
  'use strict';
  var C = window.TfCharts;
  document.addEventListener('DOMContentLoaded', function () {
    var element = document.getElementById('post-equity');
    if (!element) { return; }
    C.fetchData(element.getAttribute('data-equity-url')).then(function (data) {
      element.setAttribute('data-state', 'ready');
      var series;
      var chart = C.make(element, function (p) { series.applyOptions({ lineColor: p.line, topColor: C.withAlpha(p.line, 0.3) }); });
      var p = C.palette();
      series = chart.addSeries(C.lib.AreaSeries, { lineColor: p.line, topColor: C.withAlpha(p.line, 0.3), bottomColor: C.withAlpha(p.line, 0.02), lineWidth: 2 });
      var points = [];
      for (var i = 0; i < data.t.length; i++) {
        points.push(data.equity[i] === null ? { time: data.t[i] } : { time: data.t[i], value: data.equity[i] });
      }
      series.setData(points);
      chart.timeScale().fitContent();
    }).catch(function (error) { C.showError(element, error); });
  });
}());
