/* Small form helpers: confirm before destructive actions, apply filters on change. */
(function () {
  'use strict';
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        if (!window.confirm(form.getAttribute('data-confirm'))) { event.preventDefault(); }
      });
    });
    document.querySelectorAll('form.filters select').forEach(function (select) {
      select.addEventListener('change', function () { select.form.submit(); });
    });
  });
}());
