// A people import's status page: asks how far the import is every second and moves the bar; once
// it ends, reloads the page, which then shows the report. Without this script the page refreshes itself.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box) { return; }
  var url = box.getAttribute("data-progress-url");
  var STATES = { queued: "Waiting for a worker", running: "Importing", done: "Finished", failed: "Failed" };
  function text(id, value) { document.getElementById(id).textContent = value; }
  function number(n) { return n.toLocaleString("en-US"); }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (p) {
      document.getElementById("import-bar").value = p.percent;
      text("import-state", STATES[p.status] || p.status);
      text("import-percent", p.percent + "%");
      text("import-done", number(p.done));
      text("import-total", p.total ? number(p.total) : "?");
      text("import-rejected", number(p.rejected));
      box.setAttribute("data-status", p.status);
      if (p.ended) { window.location.replace(window.location.pathname); return; }
      window.setTimeout(poll, 1000);
    }).catch(function () { window.setTimeout(poll, 3000); });  // a restarting server: keep asking, slower
  }
  window.setTimeout(poll, 1000);
}());
