/*
 * Answer codes ("mỗi hồ sơ một phiếu") and the respondent's own phone, for the kiosk app (kiosk.js).
 *
 * kiosk.js calls three hooks, and nothing else of the form changes:
 *   SipasCode.gate({def, frame, done})  before the welcome screen: true when this module drew the
 *                                      code-entry screen instead (it calls done() once a code is taken)
 *   SipasCode.decorate(body)            adds the code (and, on a phone, the campaign and unit) to a form
 *   SipasCode.reset()                   after the thank-you screen: the code is spent, forget it
 *   SipasCode.discarded()               a form wiped on a shared tablet: forget the code (not on a phone)
 *
 * The code is checked as the server checks it: Crockford base32, 8 characters, the last one a check
 * character (GF(32), x^5 + x^2 + 1; survey/codes.py), so a typo is caught on the phone at once. Then
 * POST /api/v1/codes/check says whether it is known and unused, and which unit it belongs to. Offline,
 * a code whose check character is right is taken, and the server decides when the form arrives.
 *
 * A slip's QR code carries the code in the address's fragment (/k/p/12#7K3M-Q9TB): a fragment never
 * reaches the server, its logs or a Referer header.
 */
(function () {
  "use strict";

  var root = document.getElementById("kiosk");
  if (!root || !window.SipasDom) return;
  var el = window.SipasDom.el;
  var ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  var STORE = "sipas-answer-code";

  var TEXT = {
    title: "Nhập mã phiếu",
    intro: "Mã phiếu in trên phiếu mời Ông/Bà nhận tại Bộ phận Một cửa (8 ký tự, ví dụ 7K3M-Q9TB). " +
      "Mỗi hồ sơ được trả lời một lần.",
    label: "Mã phiếu",
    go: "Tiếp tục",
    checking: "Đang kiểm tra mã…",
    privacy: "Mã phiếu chỉ dùng để mỗi hồ sơ được trả lời một lần. Máy chủ chỉ ghi nhận “mã đã dùng”, " +
      "không ghi mã nào đi với phiếu trả lời nào và không ghi giờ dùng mã, nên không ai biết " +
      "Ông/Bà đã trả lời thế nào.",
    length: "Mã phiếu gồm 8 ký tự (chữ số và chữ cái), ví dụ 7K3M-Q9TB.",
    chars: "Mã phiếu chỉ gồm chữ số và chữ cái in trên phiếu mời.",
    check: "Mã phiếu chưa đúng: có thể gõ nhầm một ký tự hoặc đảo chỗ hai ký tự. Xin xem lại mã in trên phiếu.",
    offline: "Chưa kiểm tra được mã vì chưa có mạng. Ông/Bà vẫn trả lời được; phiếu sẽ được gửi và mã được kiểm tra khi có mạng.",
    failed: "Chưa kiểm tra được mã. Xin thử lại.",
    forUnit: function (name) { return "Mã phiếu của " + name; }
  };

  var phone = root.getAttribute("data-mode") === "phone";
  var campaignId = parseInt(root.getAttribute("data-campaign-id") || "", 10) || null;
  var posterUnit = root.getAttribute("data-unit") || null;
  var accepted = load();

  function load() {
    try {
      var raw = window.sessionStorage.getItem(STORE);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  function keep(value) {
    accepted = value;
    try {
      if (value) window.sessionStorage.setItem(STORE, JSON.stringify(value));
      else window.sessionStorage.removeItem(STORE);
    } catch (e) { /* private mode: kept in memory only */ }
  }

  // Crockford: case, spaces and hyphens do not matter; O reads 0, I and L read 1.
  function normalise(text) {
    var raw = String(text || "").replace(/[\s\-_.]+/g, "").toUpperCase();
    return raw.replace(/O/g, "0").replace(/[IL]/g, "1");
  }

  function timesX(a) {
    a <<= 1;
    return a & 32 ? a ^ 37 : a;
  }

  // "" when the code is well formed, else the message.
  function problem(code) {
    if (code.length !== 8) return TEXT.length;
    var acc = 0;
    for (var i = 0; i < code.length; i += 1) {
      var v = ALPHABET.indexOf(code.charAt(i));
      if (v < 0) return TEXT.chars;
      acc = timesX(acc) ^ v;
    }
    return acc === 0 ? "" : TEXT.check;
  }

  function shown(code) { return code.slice(0, 4) + "-" + code.slice(4); }

  function fromAddress() {
    var hash = window.location.hash.replace(/^#/, "");
    try { hash = decodeURIComponent(hash); } catch (e) { /* keep as is */ }
    return hash.replace(/^c=/, "");
  }

  function forgetAddress() {
    if (!window.location.hash) return;
    try {
      window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search);
    } catch (e) { /* nothing to do */ }
  }

  function gate(ctx) {
    var def = ctx.def;
    var needed = def.campaign && def.campaign.answer_codes;
    if (!needed) return false;
    if (accepted && accepted.campaign === def.campaign.id) {
      if (accepted.unit) {
        def.kiosk.unit = accepted.unit;
        if (accepted.unit_name) def.kiosk.unit_name = accepted.unit_name;
      }
      return false;
    }
    draw(ctx);
    return true;
  }

  function draw(ctx) {
    var def = ctx.def;
    var main = ctx.frame({ kind: "code", title: def.kiosk.unit_name || def.campaign.name });
    var message = el("p", { className: "code-entry__message", id: "k-code-message", role: "alert", hidden: true });
    var input = el("input", {
      type: "text", id: "k-code", className: "code-entry__input", name: "answer_code",
      autocomplete: "off", autocapitalize: "characters", spellcheck: "false", inputmode: "text",
      maxlength: "16", "aria-describedby": "k-code-help", value: fromAddress()
    });
    var button = el("button", { type: "submit", className: "btn btn--primary btn--big", id: "k-code-go", text: TEXT.go });
    var form = el("form", { className: "code-entry__form", novalidate: true }, [
      el("label", { for: "k-code", className: "code-entry__label", text: TEXT.label }),
      input, message, button
    ]);
    function say(text, kind) {
      message.textContent = text;
      message.hidden = !text;
      message.className = "code-entry__message" + (kind ? " code-entry__message--" + kind : "");
      input.setAttribute("aria-invalid", kind === "error" ? "true" : "false");
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var code = normalise(input.value);
      var wrong = problem(code);
      if (wrong) {
        say(wrong, "error");
        input.focus();
        return;
      }
      button.disabled = true;
      say(TEXT.checking, "");
      check(def, code).then(function (answer) {
        button.disabled = false;
        if (answer.ok) {
          keep({ campaign: def.campaign.id, code: code, unit: answer.body.unit, unit_name: answer.body.unit_name });
          forgetAddress();
          ctx.done();
        } else if (answer.offline) {
          keep({ campaign: def.campaign.id, code: code, unit: null, unit_name: null, unchecked: true });
          forgetAddress();
          ctx.done();
          window.setTimeout(function () { notice(TEXT.offline); }, 0);
        } else {
          say(answer.message || TEXT.failed, "error");
          input.focus();
        }
      });
    });
    main.appendChild(el("section", { className: "code-entry" }, [
      el("h1", { className: "code-entry__title", text: TEXT.title }),
      el("p", { className: "code-entry__intro", id: "k-code-help", text: TEXT.intro }),
      form,
      el("p", { className: "code-entry__privacy", id: "k-code-privacy", text: TEXT.privacy }),
      el("p", { className: "welcome__campaign", text: def.campaign.name })
    ]));
    if (!input.value) input.focus();
  }

  function notice(text) {
    var main = document.getElementById("k-main");
    if (main) main.insertBefore(el("p", { className: "code-entry__message", role: "status", text: text }), main.firstChild);
  }

  function check(def, code) {
    var url = def.code_check_url || "/api/v1/codes/check";
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ campaign: def.campaign.id, code: code }),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok) return { ok: true, body: body };
        if (response.status >= 500) return { offline: true };
        var first = body && body.errors && body.errors[0];
        return { ok: false, message: (first && first.message) || body.message };
      });
    }).catch(function () {
      return { offline: true };
    });
  }

  function decorate(body) {
    if (phone) {
      delete body.kiosk_token;
      body.campaign = campaignId;
      if (posterUnit) body.unit = posterUnit;
    }
    if (accepted && accepted.campaign === (campaignId || accepted.campaign)) body.answer_code = accepted.code;
    return body;
  }

  function reset() {
    keep(null);
  }

  // A form wiped on a shared tablet (idle, "Làm lại từ đầu"): the next person must not inherit the
  // code. On a phone the person is the same: the code stays.
  function discarded() {
    if (!phone) keep(null);
  }

  window.SipasCode = {
    gate: gate,
    decorate: decorate,
    reset: reset,
    discarded: discarded,
    // For the tests: the check character as the page computes it.
    problem: function (text) { return problem(normalise(text)); },
    shown: shown
  };
})();
