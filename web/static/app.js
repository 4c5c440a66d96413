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
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.getResponseHeader("X-Tanguan-Fragment") === "refusal") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("click", function (event) {
    var burger = event.target.closest(".navbar-burger");
    if (burger) {
      var menu = document.getElementById(burger.dataset.target);
      burger.classList.toggle("is-active");
      if (menu) menu.classList.toggle("is-active");
    }
  });
  // Auto-submit selects marked for it (organization switcher, language), without inline handlers.
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) {
      event.target.form.requestSubmit();
    }
  });
})();
