/*
 * Small enhancements of the staff pages; every page works without them.
 * No inline scripts anywhere (CSP script-src 'self'): behaviour hangs on data-* attributes.
 */
(function () {
  "use strict";

  var numberVi = typeof Intl === "object" ? new Intl.NumberFormat("vi-VN") : null;
  var percentVi = typeof Intl === "object" ?
    new Intl.NumberFormat("vi-VN", { minimumFractionDigits: 1, maximumFractionDigits: 1 }) : null;

  function fmt(n) {
    if (n === null || n === undefined) return "—";
    return numberVi ? numberVi.format(n) : String(n);
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }

  // A UTC timestamp as Vietnam time (UTC+7, no daylight saving): dd/mm/yyyy hh:mm.
  function vnTime(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "—";
    var t = new Date(d.getTime() + 7 * 3600 * 1000);
    return two(t.getUTCDate()) + "/" + two(t.getUTCMonth() + 1) + "/" + t.getUTCFullYear() + " " +
      two(t.getUTCHours()) + ":" + two(t.getUTCMinutes());
  }

  // ----------------------------------------------------------------- confirmations, print, once
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList && form.classList.contains("confirm-form")) {
      if (!window.confirm(form.getAttribute("data-confirm") || "Xác nhận?")) {
        event.preventDefault();
        return;
      }
    }
    var once = form.querySelector("[data-once]");
    if (once && !event.defaultPrevented) {
      // The server stores a form once whatever happens; this only spares a second wait.
      setTimeout(function () { once.disabled = true; once.setAttribute("aria-busy", "true"); }, 0);
    }
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  // ----------------------------------------------------------------------- new campaign form
  var campaignForm = document.getElementById("campaign-form");
  if (campaignForm) {
    var unitList = campaignForm.querySelector("select[name=unit_list]");
    var reload = document.getElementById("reload-units");
    if (unitList && reload) {
      unitList.addEventListener("change", function () { reload.click(); });
    }
    var margin = document.getElementById(campaignForm.getAttribute("data-margin-field"));
    var slovin = function (n, e) { return n > 0 ? Math.ceil(n / (1 + n * e * e) - 1e-9) : 0; };
    var updateHints = function () {
      var e = parseFloat(String(margin ? margin.value : "0.05").replace(",", "."));
      if (!(e > 0 && e < 1)) e = 0.05;
      Array.prototype.forEach.call(campaignForm.querySelectorAll("[data-population]"), function (input) {
        var target = campaignForm.querySelector('[data-target="' + input.getAttribute("data-population") + '"]');
        var n = parseInt(String(input.value).replace(/[.\s]/g, ""), 10);
        if (target) target.placeholder = n > 0 ? "≈ " + fmt(slovin(n, e)) + " (tự tính)" : "";
      });
    };
    campaignForm.addEventListener("input", updateHints);
    updateHints();
  }

  // ---------------------------------------------------------------------------- live progress
  var table = document.getElementById("progress");
  if (table && window.fetch) {
    var url = table.getAttribute("data-progress-url");
    var every = Math.max(1, parseInt(table.getAttribute("data-poll-seconds"), 10) || 15) * 1000;
    var updated = document.getElementById("progress-updated");
    var setRow = function (row, data) {
      if (!row) return;
      var cell = function (name) { return row.querySelector('[data-field="' + name + '"]'); };
      cell("responses").textContent = fmt(data.responses);
      cell("target").textContent = data.target === null || data.target === undefined ? "—" : fmt(data.target);
      var percent = data.percent;
      var bar = cell("percent").querySelector(".meter__bar");
      var label = cell("percent").querySelector("span:last-child");
      if (bar) {
        var step = Math.min(100, Math.floor((percent || 0) / 5) * 5);
        bar.className = "meter__bar meter__bar--" + (percent !== null && percent >= 100 ? "done" : "todo") + " w-" + step;
      }
      if (label) label.textContent = percent === null || percent === undefined ? "—" : percentVi.format(percent) + " %";
      cell("last").textContent = vnTime(data.last_response_at);
    };
    var poll = function () {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          data.units.forEach(function (u) {
            setRow(table.querySelector('tr[data-unit="' + CSS.escape(u.unit_code) + '"]'), u);
          });
          setRow(table.querySelector('tr[data-unit="__total"]'), data.totals);
          var now = new Date();
          if (updated) {
            updated.textContent = "Cập nhật lúc " + two(now.getHours()) + ":" + two(now.getMinutes()) + ":" +
              two(now.getSeconds()) + " · tự động làm mới";
          }
          table.removeAttribute("data-stale");
        })
        .catch(function () {
          table.setAttribute("data-stale", "1");
          if (updated) updated.textContent = "Chưa cập nhật được (mất kết nối?). Sẽ thử lại.";
        });
    };
    setInterval(poll, every);
    document.addEventListener("visibilitychange", poll);
  }

  // ------------------------------------------------------------- paper entry: skip logic shown
  var entry = document.getElementById("entry-form");
  if (entry && window.SipasExpr) {
    var E = window.SipasExpr;
    var def = JSON.parse(entry.getAttribute("data-definition"));
    var byCode = {};
    def.sections.forEach(function (s) { s.questions.forEach(function (q) { byCode[q.code] = { q: q, s: s }; }); });

    var valueOf = function (q) {
      var inputs = entry.querySelectorAll('[name="' + q.code + '"]');
      if (!inputs.length) return null;
      if (q.type === "single") {
        var picked = Array.prototype.filter.call(inputs, function (i) { return i.checked; })[0];
        return picked ? picked.value : null;
      }
      if (q.type === "multiple") {
        var list = Array.prototype.filter.call(inputs, function (i) { return i.checked; }).map(function (i) { return i.value; });
        return list.length ? list : null;
      }
      var text = String(inputs[0].value || "").trim();
      if (!text) return null;
      if (q.type === "integer") return /^[+-]?\d+$/.test(text) ? parseInt(text, 10) : text;
      if (q.type === "decimal") {
        var t = text.replace(",", ".");
        return /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(t) ? Number(t) : text;
      }
      return text;
    };

    var apply = function () {
      var typed = {};
      Object.keys(byCode).forEach(function (code) {
        var v = valueOf(byCode[code].q);
        if (v !== null) typed[code] = v;
      });
      // As the server does: drop what is not asked until nothing changes.
      var answers = E.dropInapplicable(def, typed).kept;
      var group = E.respondentGroup(def, answers);
      Object.keys(byCode).forEach(function (code) {
        var block = entry.querySelector('[data-code="' + code + '"]');
        if (!block) return;
        var show = E.applicable(byCode[code].s, byCode[code].q, answers, group);
        block.hidden = !show;
        Array.prototype.forEach.call(block.querySelectorAll("input, textarea, select"), function (input) {
          input.disabled = !show; // not sent, as the server would drop it
        });
      });
      Array.prototype.forEach.call(entry.querySelectorAll(".entry-likert"), function (grid) {
        grid.parentNode.hidden = !grid.querySelector("tr[data-code]:not([hidden])");
      });
      Array.prototype.forEach.call(entry.querySelectorAll("[data-section]"), function (section) {
        var any = section.querySelector("[data-code]:not([hidden])");
        section.hidden = !any;
      });
    };
    entry.addEventListener("change", apply);
    entry.addEventListener("input", apply);
    apply();
  }
})();
