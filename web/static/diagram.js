// Renders the Mermaid diagram on the workflow diagram page (static file: no inline script under the CSP).
(function () {
  "use strict";
  if (window.mermaid) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
    window.mermaid.run({ querySelector: "pre.mermaid" });
  }
})();
