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
      // As the server does: compute the calculates and drop what is not asked until nothing changes.
      var answers = E.settle(def, typed).kept;
      var group = E.respondentGroup(def, answers);
      Object.keys(byCode).forEach(function (code) {
        var block = entry.querySelector('[data-code="' + code + '"]');
        if (!block) return;
        var q = byCode[code].q;
        var show = E.applicable(byCode[code].s, q, answers, group);
        block.hidden = !show;
        Array.prototype.forEach.call(block.querySelectorAll("input, textarea, select"), function (input) {
          input.disabled = !show; // not sent, as the server would drop it
        });
        if (show && q.choice_filter) {
          // Cascading selects: only the choices offered with the other answers (a ticked one stays
          // visible, and the server says why it is refused).
          var offered = E.offeredChoices(def, q, answers).map(function (c) { return c.code; });
          Array.prototype.forEach.call(block.querySelectorAll('input[name="' + code + '"]'), function (input) {
            var label = input.closest("label");
            if (label) label.hidden = offered.indexOf(input.value) < 0 && !input.checked;
          });
        }
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

  // ------------------------------------------------------- paper entry: keyboard-only fast keying
  // One key per answer: the code's digit (or, for codes that are not digits, the option's position),
  // x (or 0 when 0 is not a code) for "blank / illegible"; the focus then moves to the next item.
  // Tab/Enter go to the next item, Shift+Tab and Backspace back, Ctrl+Enter saves the form.
  if (entry) {
    var FIELDS = "input:not([type=hidden]):not(:disabled), textarea:not(:disabled), select:not(:disabled)";
    var CHOICES = "input[type=radio]:not(:disabled), input[type=checkbox]:not(.entry-blank__box):not(:disabled)";
    var submit = entry.querySelector("button[type=submit]");
    var help = document.getElementById("entry-keys-help");
    if (help) help.hidden = false;

    var visible = function (el) { return !el.closest("[hidden]"); };
    var stops = function () {
      return Array.prototype.filter.call(entry.querySelectorAll("[data-code], .field-row .field__input"), function (el) {
        if (!visible(el)) return false;
        return el.matches(FIELDS) || !!el.querySelector(FIELDS);
      });
    };
    var options = function (stop) {
      return Array.prototype.slice.call(stop.querySelectorAll(CHOICES));
    };
    var numeric = function (opts) {
      return opts.some(function (o) { return /^\d+$/.test(o.value); });
    };
    var focusStop = function (stop) {
      Array.prototype.forEach.call(entry.querySelectorAll(".entry-current"), function (el) {
        el.classList.remove("entry-current");
      });
      if (!stop) { if (submit) submit.focus(); return; }
      var target = stop;
      if (!stop.matches(FIELDS)) {
        var opts = options(stop);
        var checked = opts.filter(function (o) { return o.checked; })[0];
        var blank = stop.querySelector(".entry-blank__box:checked");
        target = checked || blank || opts[0] || stop.querySelector(FIELDS);
        stop.classList.add("entry-current");
      }
      target.focus();
      if (target.scrollIntoView) target.scrollIntoView({ block: "center" });
    };
    var move = function (stop, step) {
      var all = stops();
      var i = all.indexOf(stop);
      var next = i < 0 ? all[0] : all[i + step];
      if (next || step > 0) focusStop(next);
    };
    var changed = function (input) {
      input.dispatchEvent(new Event("change", { bubbles: true })); // the skip logic follows
    };
    var pick = function (opts, key) {
      if (!/^\d$/.test(key)) return null;
      if (numeric(opts)) return opts.filter(function (o) { return o.value === key; })[0] || null;
      return opts[parseInt(key, 10) - 1] || null; // codes that are words: the option's position
    };
    // Each option shows its key (the Likert grids show theirs in the header): the code when codes are
    // digits, else the position, so the clerk need not count.
    Array.prototype.forEach.call(entry.querySelectorAll("[data-code]:not(tr)"), function (stop) {
      var opts = options(stop);
      var digits = numeric(opts);
      opts.slice(0, 9).forEach(function (o, i) {
        if (digits && !/^\d$/.test(o.value)) return;
        var key = document.createElement("kbd");
        key.className = "entry-key";
        key.textContent = digits ? o.value : String(i + 1);
        key.setAttribute("aria-hidden", "true");
        o.parentNode.insertBefore(key, o.nextSibling);
      });
    });

    entry.addEventListener("keydown", function (event) {
      if (event.altKey || event.metaKey || event.isComposing) return;
      var target = event.target;
      if (event.key === "Enter" && event.ctrlKey) {
        event.preventDefault();
        if (submit) submit.click();
        return;
      }
      if (event.ctrlKey) return;
      var stop = target.closest("[data-code]") || (target.matches(".field-row .field__input") ? target : null);
      if (!stop) return;
      var typing = target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
        (target.tagName === "INPUT" && !/^(radio|checkbox)$/.test(target.type));
      if (event.key === "Enter") {
        if (target.tagName === "TEXTAREA" && !event.shiftKey) return; // a new line in a comment
        event.preventDefault();
        move(stop, 1);
        return;
      }
      if (event.key === "Tab" && !typing) {
        event.preventDefault();
        move(stop, event.shiftKey ? -1 : 1);
        return;
      }
      if (event.key === "Backspace" && (!typing || (target.tagName !== "SELECT" && target.value === ""))) {
        event.preventDefault();
        move(stop, -1);
        return;
      }
      if (typing) return;
      var opts = options(stop);
      var blank = stop.querySelector(".entry-blank__box");
      var option = pick(opts, event.key);
      if (option) {
        event.preventDefault();
        if (option.type === "checkbox") { option.checked = !option.checked; } else { option.checked = true; }
        if (blank) blank.checked = false;
        changed(option);
        if (option.type === "radio") move(stop, 1);
        return;
      }
      var zeroIsCode = opts.some(function (o) { return o.value === "0"; });
      if (blank && (event.key === "x" || event.key === "X" || (event.key === "0" && !zeroIsCode))) {
        event.preventDefault();
        blank.checked = true;
        opts.forEach(function (o) { o.checked = false; });
        changed(blank);
        move(stop, 1);
      }
    });
    // A ticked "blank" clears the item's choices, and a choice clears "blank": never both.
    entry.addEventListener("change", function (event) {
      var input = event.target;
      var stop = input.closest && input.closest("[data-code]");
      if (!stop || input.type === "text" || input.tagName === "TEXTAREA") return;
      if (input.classList.contains("entry-blank__box")) {
        if (input.checked) options(stop).forEach(function (o) { o.checked = false; });
      } else if (input.checked && input.type === "radio") {
        var box = stop.querySelector(".entry-blank__box");
        if (box) box.checked = false;
      }
    });
    entry.addEventListener("focusin", function (event) {
      var stop = event.target.closest("[data-code]");
      Array.prototype.forEach.call(entry.querySelectorAll(".entry-current"), function (el) {
        if (el !== stop) el.classList.remove("entry-current");
      });
      if (stop) stop.classList.add("entry-current");
    });

    // Where keying starts: the first item with an error; on a fresh form the unit when none is chosen,
    // else the serial; else the first item.
    if (document.getElementById("keyed-count")) {
      var invalid = entry.querySelector(".entry-item--invalid, .field--invalid .field__input");
      var unit = document.getElementById("entry_unit");
      var serial = document.getElementById("entry_serial");
      if (invalid) {
        focusStop(invalid);
      } else if (unit && !unit.value) {
        focusStop(unit);
      } else if (serial && !serial.value) {
        focusStop(serial);
      } else {
        focusStop(stops()[0]);
      }
    }
  }
})();
