/*
 * The results dashboard while a campaign runs: every few tens of seconds, ask the campaign's data
 * version; when new forms changed it, fetch the page again and swap its content in (no full reload, so
 * the place on the page stays). No inline scripts (CSP script-src 'self').
 */
(function () {
  "use strict";
  var box = document.getElementById("results");
  if (!box || !window.fetch || !window.DOMParser) return;
  var every = Math.max(2, parseFloat(box.getAttribute("data-refresh-seconds")) || 60) * 1000;
  var url = box.getAttribute("data-version-url");

  function swap() {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("results");
        if (!next) return;
        box.innerHTML = next.innerHTML;
        box.setAttribute("data-version", next.getAttribute("data-version") || "");
      });
  }

  function check() {
    if (document.hidden) { setTimeout(check, every); return; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (data) {
        if (data.version !== box.getAttribute("data-version")) return swap();
        return null;
      })
      .catch(function () { return null; })
      .then(function () { setTimeout(check, every); });
  }

  setTimeout(check, every);
})();
