/* The backtest page: one candlestick chart per traded ticker with entry/exit markers, and
   the equity curve with buy-and-hold above its drawdown. When done, #backtest carries
   data-state="ready" and data-markers (the number of markers drawn). */
(function () {
  'use strict';
  var C = window.TfCharts;
  var LWC = C.lib;

  function candleOptions(p) {
    return { upColor: p.up, downColor: p.down, borderVisible: false, wickUpColor: p.up, wickDownColor: p.down };
  }

  function buildBars(data) {
    var n = data.t.length, bars = new Array(n);
    for (var i = 0; i < n; i++) {
      if (data.o[i] === null || data.h[i] === null || data.l[i] === null || data.c[i] === null) {
        bars[i] = { time: data.t[i] };
      } else {
        bars[i] = { time: data.t[i], open: data.o[i], high: data.h[i], low: data.l[i], close: data.c[i] };
      }
    }
    return bars;
  }

  function buildMarkers(columns, times, p) {
    if (!columns || !times.length) { return []; }
    var markers = [];
    var labelled = columns.side.length <= 150;
    for (var i = 0; i < columns.side.length; i++) {
      var isLong = columns.side[i] !== 'short';
      if (columns.entry_t[i] !== null) {
        markers.push({
          time: times[C.snap(times, columns.entry_t[i])],
          position: isLong ? 'belowBar' : 'aboveBar',
          shape: isLong ? 'arrowUp' : 'arrowDown',
          color: isLong ? p.up : p.down,
          text: labelled ? (isLong ? 'L' : 'S') : ''
        });
      }
      if (columns.exit_t[i] !== null) {
        markers.push({
          time: times[C.snap(times, columns.exit_t[i])],
          position: isLong ? 'aboveBar' : 'belowBar',
          shape: 'circle',
          color: p.line,
          text: labelled ? 'x' : ''
        });
      }
    }
    markers.sort(function (a, b) { return a.time - b.time; });
    return markers;
  }

  function drawCandles(element, markerData) {
    return C.fetchData(element.getAttribute('data-candles-url')).then(function (data) {
      element.setAttribute('data-state', 'ready');
      var series;
      var chart = C.make(element, function (p) { series.applyOptions(candleOptions(p)); });
      series = chart.addSeries(LWC.CandlestickSeries, candleOptions(C.palette()));
      series.setData(buildBars(data));
      var columns = markerData ? markerData.tickers[element.getAttribute('data-ticker')] : null;
      var markers = buildMarkers(columns, data.t, C.palette());
      LWC.createSeriesMarkers(series, markers);
      chart.timeScale().fitContent();
      element.setAttribute('data-candles', String(data.count));
      element.setAttribute('data-markers', String(markers.length));
      return markers.length;
    }).catch(function (error) { C.showError(element, error); return 0; });
  }

  function line(points, values) {
    var out = [];
    for (var i = 0; i < points.length; i++) {
      out.push(values[i] === null ? { time: points[i] } : { time: points[i], value: values[i] });
    }
    return out;
  }

  function drawEquity(element, url) {
    return C.fetchData(url).then(function (data) {
      element.setAttribute('data-state', 'ready');
      var equity, hold, drawdown;
      var chart = C.make(element, function (p) {
        equity.applyOptions({ color: p.line });
        hold.applyOptions({ color: p.bh });
        drawdown.applyOptions({ lineColor: p.dd, topColor: C.withAlpha(p.dd, 0.05), bottomColor: C.withAlpha(p.dd, 0.35) });
      });
      var p = C.palette();
      var money = { type: 'price', precision: 2, minMove: 0.01 };
      equity = chart.addSeries(LWC.LineSeries, { color: p.line, lineWidth: 2, title: 'Strategy', priceFormat: money });
      hold = chart.addSeries(LWC.LineSeries, { color: p.bh, lineWidth: 1, lineStyle: LWC.LineStyle.Dashed, title: 'Buy & hold', priceFormat: money });
      drawdown = chart.addSeries(LWC.AreaSeries, {
        lineColor: p.dd, topColor: C.withAlpha(p.dd, 0.05), bottomColor: C.withAlpha(p.dd, 0.35), lineWidth: 1, title: 'Drawdown %',
        invertFilledArea: true,
        priceFormat: { type: 'custom', formatter: function (v) { return v.toFixed(2) + ' %'; } }
      }, 1);
      equity.setData(line(data.t, data.equity));
      hold.setData(line(data.t, data.buy_hold));
      drawdown.setData(line(data.t, data.drawdown_pct));
      var panes = chart.panes();
      if (panes.length > 1) { panes[0].setStretchFactor(3); panes[1].setStretchFactor(1); }
      chart.timeScale().fitContent();
      element.setAttribute('data-points', String(data.t.length));
    }).catch(function (error) { C.showError(element, error); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var root = document.getElementById('backtest');
    if (!root) { return; }
    var candles = Array.prototype.slice.call(root.querySelectorAll('.candle-chart'));
    var equityDone = drawEquity(document.getElementById('equity-chart'), root.getAttribute('data-equity-url'));
    var candlesDone = C.fetchData(root.getAttribute('data-markers-url'))
      .catch(function () { return null; })
      .then(function (markerData) {
        return Promise.all(candles.map(function (el) { return drawCandles(el, markerData); }));
      })
      .then(function (counts) {
        var total = counts.reduce(function (a, b) { return a + b; }, 0);
        root.setAttribute('data-markers', String(total));
      });
    Promise.all([equityDone, candlesDone]).then(function () { root.setAttribute('data-state', 'ready'); });
  });
}());
