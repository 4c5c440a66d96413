// Tanguan page behaviour. Loaded as a static file so the CSP needs no inline script.
(function () {
  "use strict";
  // Every htmx request carries the CSRF token of the current session (read at request time, never stale).
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) {
      event.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });
  // Show refusals the server renders deliberately as fragments (htmx does not swap 4xx by default):
  // form errors (422), conflicts (409) and refused signatures or duties (403) are marked with a header.
  // A boosted link or form (a whole page) that is answered with an error page (404, 403, 413, 500…) shows
  // that page, as a plain navigation would, instead of htmx silently doing nothing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var boosted = event.detail.boosted || (event.detail.requestConfig && event.detail.requestConfig.boosted);
    if (xhr.getResponseHeader("X-Tanguan-Fragment") === "refusal" || (boosted && xhr.status >= 400)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // Any other refused htmx request (a body over the size limit, a stale form…) says so above the page
  // instead of leaving the user with a button that did nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var box = document.getElementById("request-error");
    if (!box) {
      box = document.createElement("div");
      box.id = "request-error";
      box.className = "notification is-danger is-light";
      box.setAttribute("role", "alert");
      (document.querySelector("main") || document.body).prepend(box);
    }
    var plain = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0;
    var english = document.documentElement.lang === "en";
    box.textContent = plain && xhr.responseText ? xhr.responseText
      : english ? "The request was not accepted (HTTP " + xhr.status + "). Reload the page and try again."
      : "请求未被接受（HTTP " + xhr.status + "），请刷新页面后重试。";
  });
  document.addEventListener("click", function (event) {
    var burger = event.target.closest(".navbar-burger");
    if (burger) {
      var menu = document.getElementById(burger.dataset.target);
      burger.classList.toggle("is-active");
      if (menu) menu.classList.toggle("is-active");
    }
  });
  // A file input shows the chosen file's name in the page's language.
  document.addEventListener("change", function (event) {
    if (event.target.matches(".file-input")) {
      var shown = event.target.closest(".file").querySelector(".file-name");
      if (shown) {
        var files = event.target.files;
        shown.textContent = files && files.length ? files[0].name : shown.dataset.empty;
      }
    }
  });
  // Auto-submit selects marked for it (organization switcher, language), without inline handlers.
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) {
      event.target.form.requestSubmit();
    }
  });
  // Dates and months are picked from a calendar in the page's language and written YYYY-MM-DD / YYYY-MM,
  // whatever the browser's own locale (a native date input follows the browser: mm/dd/yyyy in an
  // English browser). Without the script the field still takes the typed date.
  function datePickers(root) {
    if (!window.flatpickr) return;
    var chinese = document.documentElement.lang !== "en";
    var locale = chinese && window.flatpickr.l10ns && window.flatpickr.l10ns.zh ? "zh" : "default";
    root.querySelectorAll("input[data-picker]").forEach(function (input) {
      if (input._flatpickr) return;
      var month = input.dataset.picker === "month";
      window.flatpickr(input, {
        locale: locale,
        allowInput: true,
        dateFormat: month ? "Y-m" : "Y-m-d",
        disableMobile: true,
        plugins: month && window.monthSelectPlugin
          ? [new window.monthSelectPlugin({ dateFormat: "Y-m", shorthand: false })] : [],
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { datePickers(document); });
  document.addEventListener("htmx:load", function (event) { datePickers(event.detail.elt); });
})();
