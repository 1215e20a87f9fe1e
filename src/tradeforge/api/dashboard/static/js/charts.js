/* Shared chart helpers over TradingView lightweight-charts (v5): theme colours from the
   stylesheet, one factory, JSON loading with the API envelope, and error display. */
(function () {
  'use strict';
  var LWC = window.LightweightCharts;
  var charts = [];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function palette() {
    return {
      bg: cssVar('--chart-bg'), text: cssVar('--muted'), grid: cssVar('--grid'),
      border: cssVar('--border'), up: cssVar('--up'), down: cssVar('--down'),
      line: cssVar('--accent'), bh: cssVar('--bh'), dd: cssVar('--dd')
    };
  }

  function baseOptions(p) {
    return {
      autoSize: true,
      layout: {
        background: { type: 'solid', color: p.bg },
        textColor: p.text,
        fontFamily: getComputedStyle(document.body).fontFamily,
        attributionLogo: false,  // the page footer credits TradingView (inline styles are barred by CSP)
        panes: { separatorColor: p.border }
      },
      grid: { vertLines: { color: p.grid }, horzLines: { color: p.grid } },
      crosshair: { mode: LWC.CrosshairMode.Normal },
      rightPriceScale: { borderColor: p.border },
      // minBarSpacing lets fitContent show every bar, even 100k+ of them.
      timeScale: { borderColor: p.border, timeVisible: true, secondsVisible: false, minBarSpacing: 0.01 },
      localization: { dateFormat: 'yyyy-MM-dd' }
    };
  }

  /* Create a chart in `element`; `restyle(palette)` re-colours its series on theme change. */
  function make(element, restyle) {
    var chart = LWC.createChart(element, baseOptions(palette()));
    charts.push({ chart: chart, restyle: restyle || function () {} });
    return chart;
  }

  document.addEventListener('tf-theme', function () {
    var p = palette();
    charts.forEach(function (entry) {
      entry.chart.applyOptions(baseOptions(p));
      entry.restyle(p);
    });
  });

  function fetchData(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok || !body.success) {
            var error = body && body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + response.status;
            throw new Error(error);
          }
          return body.data;
        });
      });
  }

  function showError(element, error) {
    element.setAttribute('data-state', 'error');
    var message = document.createElement('p');
    message.className = 'chart-error';
    message.textContent = 'The chart could not be loaded (' + (error && error.message ? error.message : error) + ').';
    element.appendChild(message);
  }

  /* '#rrggbb' with an alpha channel, as rgba(). */
  function withAlpha(color, alpha) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
    if (!m) { return color; }
    return 'rgba(' + parseInt(m[1], 16) + ',' + parseInt(m[2], 16) + ',' + parseInt(m[3], 16) + ',' + alpha + ')';
  }

  /* Index of the last time <= t in the ascending array `times` (or 0). */
  function snap(times, t) {
    var lo = 0, hi = times.length - 1, found = 0;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (times[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  window.TfCharts = { make: make, palette: palette, fetchData: fetchData, showError: showError, snap: snap, withAlpha: withAlpha, lib: LWC };
}());
