// leadgate dashboard: small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Forms with data-confirm ask first (replay all, drop a dead letter, send a delivered lead again).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Filter selects apply on change.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.submit();
    });
  });

  // Times: "3 min ago" for today, local date and time otherwise; UTC stays in the tooltip.
  function relative(seconds) {
    var ago = Math.round(Date.now() / 1000 - seconds);
    if (ago < -60) { return null; }
    if (ago < 45) { return "just now"; }
    if (ago < 3600) { return Math.round(ago / 60) + " min ago"; }
    if (ago < 86400) { return Math.round(ago / 3600) + " h ago"; }
    return null;
  }
  document.querySelectorAll("time[data-ts]").forEach(function (node) {
    var seconds = parseFloat(node.getAttribute("data-ts"));
    if (!isFinite(seconds)) { return; }
    var local = new Date(seconds * 1000);
    node.title = node.textContent + " · " + local.toLocaleString();
    node.textContent = relative(seconds) || local.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  });

  // Pages of events still being delivered refresh themselves while visible.
  var live = document.querySelector("[data-refresh]");
  if (live) {
    var wait = Math.max(2, parseInt(live.getAttribute("data-refresh"), 10) || 5) * 1000;
    window.setTimeout(function tick() {
      if (document.visibilityState === "visible") {
        window.location.reload();
      } else {
        window.setTimeout(tick, wait);
      }
    }, wait);
  }
})();
