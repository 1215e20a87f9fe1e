/* Dark/light theme: the system preference, unless the user picked one (remembered in
   localStorage). Loaded in <head> so the page never flashes the wrong theme. */
(function () {
  'use strict';
  var KEY = 'tf-theme';
  var root = document.documentElement;

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function systemDark() {
    return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  }
  function current() {
    var choice = stored();
    if (choice === 'dark' || choice === 'light') { return choice; }
    return systemDark() ? 'dark' : 'light';
  }
  function apply(theme) {
    root.setAttribute('data-theme', theme);
    document.dispatchEvent(new CustomEvent('tf-theme', { detail: theme }));
  }

  var choice = stored();
  if (choice === 'dark' || choice === 'light') { root.setAttribute('data-theme', choice); }

  document.addEventListener('DOMContentLoaded', function () {
    var button = document.getElementById('theme-toggle');
    if (!button) { return; }
    button.setAttribute('aria-pressed', String(current() === 'dark'));
    button.addEventListener('click', function () {
      var next = current() === 'dark' ? 'light' : 'dark';
      try { window.localStorage.setItem(KEY, next); } catch (e) { /* private mode */ }
      apply(next);
      button.setAttribute('aria-pressed', String(next === 'dark'));
    });
  });
  if (window.matchMedia) {
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', function () {
      if (!stored()) { apply(current()); }
    });
  }
}());
