/*
 * The tablet kiosk: welcome -> one section (or one question: def.display.paging) per page -> review ->
 * submit -> thank you -> fresh form. Scales the server marks as faces are drawn by SipasFaces (faces.js).
 *
 * Plain DOM code, no framework, no inline scripts (the page's CSP is script-src 'self'). The
 * questionnaire comes as JSON from data-definition-url; skip logic, requirements and constraints are
 * evaluated with SipasExpr (expr.js) exactly as the server's validate_answers does, so the server
 * never refuses what the tablet accepted. Sending is SipasSubmit's job (submit.js): a finished form
 * goes to the tablet's outbox first, and the respondent is thanked as soon as it is there; the staff
 * badge and panel are SipasStaff's (staff.js).
 */
(function () {
  "use strict";

  var E = window.SipasExpr;
  var S = window.SipasSubmit;
  var root = document.getElementById("kiosk");
  if (!root || !E || !S || !window.SipasI18n) return;
  var el = window.SipasDom.el;

  var I = window.SipasI18n;
  // The fixed texts are in survey/kiosk_texts.json, per language, and come with the definition; these
  // few are shown before it arrives (or when it cannot), in Vietnamese.
  var BOOT = {
    loadFailed: "Chưa tải được phiếu khảo sát. Đang thử lại…",
    invalidTitle: "Đường dẫn không còn hiệu lực",
    invalidText: "Máy tính bảng này không còn được nhận phiếu (đường dẫn đã bị thu hồi hoặc đợt khảo sát đã kết thúc). Xin báo cán bộ tại Bộ phận Một cửa."
  };

  // A fixed text in the respondent's language (Vietnamese where it has none): T("pageErrors", {n: 2}).
  function T(key, params) {
    return I.t(key, params);
  }

  // An element's children showing a questionnaire label in the respondent's language: the text, and a
  // "VI" badge when it is the Vietnamese text standing in for a missing translation.
  function L(label) {
    return I.labelNodes(label);
  }

  // The text alone (buttons' aria-labels, answers on the review page, messages).
  function vi(label) {
    return I.label(label).text;
  }

  var config = {
    definitionUrl: root.getAttribute("data-definition-url"),
    submitUrl: root.getAttribute("data-submit-url"),
    token: root.getAttribute("data-token"),
    unitName: root.getAttribute("data-unit-name") || "",
    appVersion: root.getAttribute("data-app-version") || ""
  };

  var def = null; // the definition JSON: {campaign, kiosk, questionnaire, reset_seconds, idle_seconds}
  var Q = null; // def.questionnaire
  var questions = {}; // code -> {q, section}
  var state = null; // the form being filled
  var screen = "loading";
  var timers = { idle: null, warn: null, tick: null, reset: null };
  var app = null; // the element screens are drawn into

  // ----------------------------------------------------------------------------------- helpers

  function isEmpty(v) {
    return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);
  }

  function choicesOf(q) {
    return (q.choices && Q.choice_lists[q.choices]) || [];
  }

  function isMetadata(q) {
    return q.type === "start" || q.type === "end" || q.type === "today";
  }

  // XLSForm allows several appearance words, space-separated ("likert faces").
  function hasAppearance(q, name) {
    return !!q.appearance && String(q.appearance).split(/\s+/).indexOf(name) >= 0;
  }

  // Drawn as faces (faces.js): the server marks such questions and sends their scale's levels.
  function isFaces(q) {
    return !!(q.faces && window.SipasFaces && Q.faces && Q.faces[q.choices]);
  }

  function localDate(d) {
    var m = d.getMonth() + 1;
    var day = d.getDate();
    return d.getFullYear() + "-" + (m < 10 ? "0" : "") + m + "-" + (day < 10 ? "0" : "") + day;
  }

  // ------------------------------------------------------------------- relevance, as the server

  // As the server does: compute the calculates and drop the answers to questions that are no longer
  // asked, until nothing changes; an answer a choice filter no longer offers is cleared too.
  function dropInapplicable() {
    var result = E.prune(Q, state.answers);
    state.answers = result.kept;
    result.dropped.forEach(function (code) { delete state.drafts[code]; });
  }

  // Shown on a page: not metadata, not a calculate, and asked.
  function visibleQuestions(section) {
    var group = E.respondentGroup(Q, state.answers);
    return section.questions.filter(function (q) {
      return !isMetadata(q) && !E.isComputed(q) && E.applicable(section, q, state.answers, group);
    });
  }

  // The answers a new form starts with: the questions' defaults.
  function defaultAnswers() {
    var answers = {};
    Q.sections.forEach(function (s) {
      s.questions.forEach(function (q) {
        if (E.answerable(q) && !isEmpty(q["default"])) {
          answers[q.code] = Array.isArray(q["default"]) ? q["default"].slice() : q["default"];
        }
      });
    });
    return answers;
  }

  function visibleSections() {
    return Q.sections.filter(function (s) { return visibleQuestions(s).length > 0; });
  }

  function isRequired(q) {
    if (q.required) return true;
    return q.required_if ? E.holds(q.required_if, state.answers) : false;
  }

  // The message for one question's current answer, or "" when it is fine.
  function problemOf(q) {
    var draft = state.drafts[q.code];
    if (draft !== undefined && draft.error) return draft.error;
    var value = state.answers[q.code];
    if (isEmpty(value)) {
      if (!isRequired(q)) return "";
      if (q.type === "single") return T("needChoice");
      if (q.type === "multiple") return T("needChoices");
      return T("needAnswer");
    }
    if (q.constraint && !E.holds(q.constraint, state.answers, value)) {
      return vi(q.constraint_message) || T("badValue");
    }
    return "";
  }

  // ----------------------------------------------------------------------------------- paging
  // How the form is cut into pages (def.display.paging): "section" (the default), a page per section;
  // or "question", a screen per question, for respondents who read slowly (a note goes with the
  // question after it, or with the one before at a section's end). A page is {key, section, items}:
  // its key (the section's code, or its question's), its section, and the questions drawn on it.
  // Checks, progress, history and the review work on pages, whichever way the form is cut, and the
  // answers sent are the same.
  var PAGINGS = {
    section: {
      counter: function (i, n) { return T("part", { i: i, n: n }); },
      slots: function (section) { return [{ key: section.code, items: drawnItems(section), anchor: null }]; }
    },
    question: {
      counter: function (i, n) { return T("question", { i: i, n: n }); },
      slots: questionSlots
    }
  };
  var slotCache = {};

  function paging() {
    return PAGINGS[def.display && def.display.paging] || PAGINGS.section;
  }

  // The questions a page may draw: not metadata, not calculates.
  function drawnItems(section) {
    return section.questions.filter(function (q) { return !isMetadata(q) && !E.isComputed(q); });
  }

  function questionSlots(section) {
    var slots = [];
    var notes = [];
    drawnItems(section).forEach(function (q) {
      if (!E.answerable(q)) {
        notes.push(q);
        return;
      }
      slots.push({ key: q.code, items: notes.concat([q]), anchor: q });
      notes = [];
    });
    if (notes.length && slots.length) slots[slots.length - 1].items = slots[slots.length - 1].items.concat(notes);
    else if (notes.length) slots.push({ key: notes[0].code, items: notes, anchor: null });
    return slots;
  }

  // A section's possible pages, whether asked or not (they never change).
  function slotsOf(section) {
    if (!slotCache[section.code]) slotCache[section.code] = paging().slots(section);
    return slotCache[section.code];
  }

  // The page of `key`, asked or not (null for a key of no page).
  function pageByKey(key) {
    for (var i = 0; i < Q.sections.length; i += 1) {
      var slots = slotsOf(Q.sections[i]);
      for (var j = 0; j < slots.length; j += 1) {
        if (slots[j].key === key) return { key: key, section: Q.sections[i], items: slots[j].items };
      }
    }
    return null;
  }

  // The pages asked with the answers so far, in order: a question's page when it is asked, a section's
  // when any of its questions is.
  function pages() {
    var out = [];
    visibleSections().forEach(function (section) {
      var shown = {};
      visibleQuestions(section).forEach(function (q) { shown[q.code] = true; });
      slotsOf(section).forEach(function (slot) {
        var asked = slot.anchor ? shown[slot.anchor.code] : slot.items.some(function (q) { return shown[q.code]; });
        if (asked) out.push({ key: slot.key, section: section, items: slot.items });
      });
    });
    return out;
  }

  function indexOfPage(all, key) {
    for (var i = 0; i < all.length; i += 1) if (all[i].key === key) return i;
    return -1;
  }

  // "Sửa" from the review edits one section: its first page leads in, its last page leads back.
  function firstOfSection(all, index) {
    return index <= 0 || all[index - 1].section !== all[index].section;
  }

  function lastOfSection(all, index) {
    return index === all.length - 1 || all[index + 1].section !== all[index].section;
  }

  // ----------------------------------------------------------------------------- form state

  function newState() {
    return {
      instanceId: S.newInstanceId(),
      startedAt: new Date().toISOString(),
      answers: defaultAnswers(),
      drafts: {}, // code -> {text, error}: typed numbers not yet valid
      page: null, // the page's key (paging)
      fromReview: false,
      payload: null, // frozen at the first "Gửi phiếu" tap, re-sent unchanged on retries
      serverErrors: {},
      // The language the respondent chose on the welcome screen (a BCP-47 tag): what the form is shown
      // in and what the stored response records. Other modules read it here (or SipasI18n.lang()).
      lang: I.lang()
    };
  }

  function storageKey() {
    return "sipas-kiosk:" + def.campaign.id + ":" + def.kiosk.unit;
  }

  function save() {
    try {
      if (!state || screen === "thanks" || screen === "welcome") {
        window.sessionStorage.removeItem(storageKey());
        return;
      }
      window.sessionStorage.setItem(storageKey(), JSON.stringify({
        v: 1, savedAt: Date.now(), screen: screen, state: state,
        questionnaire: Q.id + "@" + Q.version
      }));
    } catch (e) {
      // storage full or disabled: the form still works, it just does not survive a reload
    }
  }

  function restore() {
    try {
      var raw = window.sessionStorage.getItem(storageKey());
      if (!raw) return false;
      var saved = JSON.parse(raw);
      var fresh = Date.now() - saved.savedAt < def.idle_seconds * 1000;
      if (saved.v !== 1 || saved.questionnaire !== Q.id + "@" + Q.version || !(fresh || saved.state.payload)) {
        window.sessionStorage.removeItem(storageKey());
        return false;
      }
      state = saved.state;
      I.setLang(state.lang || "vi");
      if (state.payload) {
        showReview();
        submit();
      } else if (saved.screen === "review") {
        showReview();
      } else {
        showPage(state.page);
      }
      return true;
    } catch (e) {
      return false;
    }
  }

  // --------------------------------------------------------------------------------- paradata
  // Time and taps per page, sent with the form only to a server whose definition says it takes them
  // (def.paradata): an older server refuses unknown fields, and the answers matter more.

  var PARADATA_MAX = { ms: 86400000, taps: 100000, visits: 10000 };

  function paradataOn() {
    return !!(def && def.paradata && def.paradata.v === 1);
  }

  // Close the timing of the page being looked at and open `key` (a section index, "review", or null).
  function track(key) {
    if (!paradataOn() || !state) return;
    var p = state.paradata || (state.paradata = { pages: {}, open: null, since: 0 });
    var now = Date.now();
    if (p.open !== null && p.pages[p.open]) p.pages[p.open].ms += Math.max(0, now - p.since);
    p.open = key;
    p.since = now;
    if (key !== null) {
      var entry = p.pages[key] || (p.pages[key] = { ms: 0, taps: 0, visits: 0 });
      entry.visits += 1;
    }
  }

  function countTap() {
    var p = state && state.paradata;
    if (!paradataOn() || !p || p.open === null || !p.pages[p.open]) return;
    p.pages[p.open].taps += 1;
  }

  function paradataPayload() {
    var p = state.paradata;
    if (!p) return null;
    var pages = [];
    var review = null;
    Object.keys(p.pages).forEach(function (key) {
      var e = p.pages[key];
      var counts = {
        ms: Math.min(PARADATA_MAX.ms, Math.round(e.ms)),
        taps: Math.min(PARADATA_MAX.taps, e.taps),
        visits: Math.min(PARADATA_MAX.visits, e.visits)
      };
      if (key === "review") {
        review = counts;
      } else {
        counts.page = Number(key);
        pages.push(counts);
      }
    });
    pages.sort(function (a, b) { return a.page - b.page; });
    var out = { v: 1, pages: pages.slice(0, def.paradata.max_pages || 200) };
    if (review) out.review = review;
    return out;
  }

  // ----------------------------------------------------------------------------------- timers

  function clearTimer(name) {
    if (timers[name]) {
      clearTimeout(timers[name]);
      clearInterval(timers[name]);
      timers[name] = null;
    }
  }

  function idleArmed() {
    return screen === "section" || screen === "review";
  }

  // The visible countdown before an untouched form is wiped (the last part of idle_seconds).
  function warnSeconds() {
    var warn = def.idle_warning_seconds || 15;
    return Math.max(1, Math.min(warn, def.idle_seconds - 1));
  }

  function touch() {
    if (!def) return;
    clearTimer("idle");
    if (document.querySelector(".idle-warning:not(.k-restart)")) hideIdleWarning();
    if (!idleArmed()) return;
    var ms = Math.max(1, def.idle_seconds - warnSeconds()) * 1000;
    timers.idle = setTimeout(showIdleWarning, ms);
  }

  function showIdleWarning() {
    if (!idleArmed()) return;
    var left = warnSeconds();
    var count = el("p", { className: "idle-warning__count", "aria-live": "polite", text: T("idleText", { s: left }) });
    var button = el("button", { type: "button", className: "btn btn--primary btn--big", text: T("idleContinue") });
    var box = el("div", {
      className: "idle-warning", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "idle-title"
    }, [
      el("div", { className: "idle-warning__box" }, [
        el("h2", { id: "idle-title", text: T("idleTitle") }), count, button
      ])
    ]);
    box.addEventListener("click", function (event) {
      event.preventDefault();
      touch();
    });
    document.body.appendChild(box);
    button.focus();
    timers.tick = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        hideIdleWarning();
        discard();
        return;
      }
      count.textContent = T("idleText", { s: left });
    }, 1000);
  }

  function hideIdleWarning() {
    clearTimer("tick");
    var box = document.querySelector(".idle-warning:not(.k-restart)");
    if (box) box.parentNode.removeChild(box);
  }

  // An abandoned form, or "Làm lại từ đầu": its answers are wiped from memory, from the tablet's
  // storage and from the page, and the welcome screen comes back. The next person sees nothing of it.
  function discard() {
    state = null;
    if (window.SipasCode) window.SipasCode.discarded(); // a shared tablet forgets the code too
    hideIdleWarning();
    closeRestart();
    try {
      window.sessionStorage.removeItem(storageKey());
    } catch (e) {
      // storage disabled: nothing was kept there
    }
    try {
      // The history entries of the wiped form name its id and pages: replace them with a blank one.
      window.history.replaceState({ kiosk: true, screen: "welcome", page: null, form: null }, "");
    } catch (e) {
      // history is a convenience only
    }
    showWelcome();
  }

  // "Làm lại từ đầu": one confirmation, then the form is discarded.
  function askRestart() {
    if (!state || screen === "sending" || document.querySelector(".k-restart")) return;
    var keep = el("button", {
      type: "button", className: "btn btn--secondary btn--big", id: "k-restart-cancel", text: T("idleContinue"),
      onclick: function () { closeRestart(); touch(); }
    });
    var box = el("div", {
      className: "idle-warning k-restart", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "restart-title"
    }, [
      el("div", { className: "idle-warning__box" }, [
        el("h2", { id: "restart-title", text: T("restartTitle") }),
        el("p", { className: "idle-warning__count", text: T("restartText") }),
        el("div", { className: "k-restart__buttons" }, [
          keep,
          el("button", {
            type: "button", className: "btn btn--danger btn--big", id: "k-restart-confirm", text: T("restartConfirm"),
            onclick: discard
          })
        ])
      ])
    ]);
    document.body.appendChild(box);
    keep.focus();
  }

  function closeRestart() {
    var box = document.querySelector(".k-restart");
    if (box) box.parentNode.removeChild(box);
  }

  // ---------------------------------------------------------------------------------- history

  function pushHistory() {
    try {
      var entry = { kiosk: true, screen: screen, page: state ? state.page : null, form: state ? state.instanceId : null };
      window.history.pushState(entry, "");
    } catch (e) {
      // history is a convenience only
    }
  }

  window.addEventListener("popstate", function (event) {
    var entry = event.state;
    var sameForm = entry && state && entry.form === state.instanceId && !state.payload;
    if (sameForm && (screen === "section" || screen === "review")) {
      if (entry.screen === "review") {
        showReview(true);
        return;
      }
      if (entry.screen === "section" && entry.page) {
        showPage(entry.page, true);
        return;
      }
    }
    // Back after a submission, into another form, or past the start: stay where we are.
    pushHistory();
  });

  // ------------------------------------------------------------------------------- rendering

  function frame(options) {
    if (window.SipasAudio) window.SipasAudio.stop(); // a new screen: whatever was being read stops
    clearTimer("reset");
    hideIdleWarning();
    closeRestart();
    root.innerHTML = "";
    root.className = "kiosk-app kiosk-app--" + options.kind;
    // The fixed texts' language; every questionnaire text carries its own lang (vi where it fell back).
    root.setAttribute("lang", I.chromeLang());
    root.setAttribute("data-lang", I.lang());
    var header = el("header", { className: "k-header" }, [
      el("div", {
        className: "k-header__unit", lang: options.title ? null : "vi",
        text: options.title || def.kiosk.unit_name || config.unitName
      }),
      options.counter ? el("div", { className: "k-header__part", text: options.counter }) : null,
      options.restart ? el("button", {
        type: "button", className: "k-restart-button", id: "k-restart", text: T("restart"), onclick: askRestart
      }) : null
    ]);
    if (window.SipasStaff) window.SipasStaff.mount(header); // the staff badge: queue and connection
    root.appendChild(header);
    if (options.progress !== undefined) {
      var bar = el("div", {
        className: "k-progress", role: "progressbar", "aria-label": T("progressLabel"),
        "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(options.progress))
      }, [el("div", { className: "k-progress__bar" })]);
      bar.firstChild.style.width = options.progress + "%";
      root.appendChild(bar);
    }
    app = el("main", { className: "k-main", id: "k-main", tabindex: "-1" });
    root.appendChild(app);
    return app;
  }

  // The welcome screen for the next respondent: in Vietnamese until someone picks another language.
  function showWelcome() {
    I.setLang("vi");
    drawWelcome();
  }

  // A language button: the welcome screen again, in that language; the form starts in it.
  function chooseLanguage(code) {
    I.setLang(code);
    drawWelcome();
    var start = document.getElementById("k-start");
    if (start) start.focus({ preventScroll: true });
  }

  // The campaign's languages as big buttons, each named in itself where that name is known, else in
  // Vietnamese ("Tiếng Hrê"); none when the form has only Vietnamese.
  function languageButtons() {
    var offered = I.languages();
    if (offered.length < 2) return null;
    var current = I.lang();
    return el("div", { className: "welcome__languages", role: "group", "aria-labelledby": "k-lang-title" }, [
      el("p", { className: "welcome__languages-title", id: "k-lang-title", text: T("chooseLanguage") }),
      el("div", { className: "lang-buttons" }, offered.map(function (l) {
        return el("button", {
          type: "button", className: "btn btn--lang" + (l.code === current ? " is-selected" : ""),
          id: "k-lang-" + l.code, lang: l.name_lang, "data-lang": l.code,
          "aria-pressed": l.code === current ? "true" : "false", text: l.name,
          onclick: function () { chooseLanguage(l.code); }
        });
      })),
      // The kiosk's own buttons and messages have no translation in this language: say so, once.
      I.chromeLang() !== current ? el("p", { className: "welcome__fallback", id: "k-lang-fallback", lang: "vi" }, [
        I.badge(), " " + T("fallbackNote")
      ]) : null
    ]);
  }

  function drawWelcome() {
    screen = "welcome";
    save();
    touch();
    // "Mỗi hồ sơ một phiếu": a code first (code.js draws that step and comes back here once it is taken).
    if (window.SipasCode && window.SipasCode.gate({ def: def, frame: frame, done: showWelcome })) return;
    var main = frame({ kind: "welcome", title: T("surveyName") });
    var path = applicablePath();
    var count = path.sections;
    var asked = path.items;
    main.appendChild(el("section", { className: "welcome" }, [
      el("p", { className: "welcome__unit", lang: "vi", text: def.kiosk.unit_name || config.unitName }),
      languageButtons(),
      el("h1", { className: "welcome__title", lang: I.langOf(Q.title) }, L(Q.title)),
      vi(Q.description) ? el("p", { className: "welcome__text", lang: I.langOf(Q.description) }, L(Q.description)) : null,
      el("ul", { className: "welcome__facts" }, [
        el("li", { text: T("minutes", { n: Math.max(2, Math.round(asked * 10 / 60)) }) }),
        el("li", { text: T("anonymous") }),
        el("li", { text: T("sections", { n: count }) })
      ]),
      el("p", { className: "welcome__how", text: T("how") }),
      el("button", {
        type: "button", className: "btn btn--primary btn--huge", id: "k-start", text: T("start"),
        onclick: startForm
      }),
      el("p", { className: "welcome__campaign", lang: "vi", text: def.campaign.name }),
    ]));
    if (window.SipasAudio) {
      window.SipasAudio.welcome(main.querySelector(".welcome"), [T("surveyName"), T("anonymous"), T("how")].join(". "));
    }
    main.focus({ preventScroll: true });
  }

  // The pages and items a new form asks before any answer opens more (Câu 8 "Có" opens Câu 9): what
  // the welcome screen's "Khoảng N phút" and "N phần" count, rather than every item of the definition.
  function applicablePath() {
    var saved = state;
    state = newState();
    dropInapplicable(); // the defaults and the calculates they give may hide or show sections
    var sections = visibleSections();
    var items = 0;
    sections.forEach(function (s) {
      visibleQuestions(s).forEach(function (q) { if (E.answerable(q)) items += 1; });
    });
    state = saved;
    return { sections: sections.length, items: items };
  }

  function startForm() {
    state = newState();
    dropInapplicable();
    showPage(pages()[0].key);
  }

  function showPage(key, fromHistory) {
    var all = pages();
    var index = Math.max(0, indexOfPage(all, key));
    var page = all[index];
    var section = page.section;
    screen = "section";
    state.page = page.key;
    // Paradata count time per section: moving between the questions of one section is not a new visit.
    var tracked = String(Q.sections.indexOf(section));
    if (!(state.paradata && state.paradata.open === tracked)) track(tracked);
    var main = frame({
      kind: "section",
      restart: true,
      counter: paging().counter(index + 1, all.length),
      progress: progressShown(index / (all.length + 1) * 100)
    });
    var body = el("div", { className: "k-section" + (paging() === PAGINGS.question ? " k-section--one" : "") });
    // Questions outside any XLSForm group have no page title of their own: the form's title serves.
    var heading = vi(section.label) ? section.label : Q.title;
    body.appendChild(el("h1", { className: "k-section__title", lang: I.langOf(heading) }, L(heading)));
    if (section.intro && firstOfSection(all, index)) {
      body.appendChild(el("p", { className: "k-section__intro", lang: I.langOf(section.intro) }, L(section.intro)));
    }
    renderQuestions(page.items, body);
    main.appendChild(body);
    main.appendChild(el("p", { className: "k-page-errors", id: "k-page-errors", role: "alert", hidden: true }));
    root.appendChild(nav([
      index > 0 || state.fromReview ? el("button", {
        type: "button", className: "btn btn--secondary", id: "k-back", text: T("back"), onclick: guarded(goBack)
      }) : el("span"),
      el("button", { type: "button", className: "btn btn--primary", id: "k-next", text: nextText(all, index), onclick: guarded(goNext) })
    ]));
    refresh();
    if (window.SipasAudio) window.SipasAudio.section(body, section); // "Nghe" buttons; auto-read
    if (!fromHistory) pushHistory();
    save();
    touch();
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }

  function nextText(all, index) {
    if (state.fromReview && lastOfSection(all, index)) return T("backToReview");
    return index === all.length - 1 ? T("toReview") : T("next");
  }

  // A quick double tap on "Tiếp tục" must not press the button the next page draws in the same place
  // ("Tiếp tục" again, or "Gửi phiếu" after "Xem lại phiếu"), nor mark that page's items red before it
  // was even seen: a finger's tap on the buttons of a page nobody has touched yet, in its first moments
  // (def.tap_guard_ms), is taken as the same tap and ignored.
  var shownAt = 0;
  var pageTouched = false;

  function guarded(action) {
    return function (event) {
      var guard = def && typeof def.tap_guard_ms === "number" ? def.tap_guard_ms : 450;
      if (event && event.isTrusted && !pageTouched && Date.now() - shownAt < guard) return;
      action();
    };
  }

  // The bar never goes backwards: pages that open further on (Câu 8 "Có" opens Câu 9) lower the share
  // of the form done, so the bar holds until the respondent passes the furthest point shown.
  function progressShown(computed) {
    state.progress = Math.max(state.progress || 0, computed);
    return state.progress;
  }

  // After an answer: the page count of the path that now applies, the bar held where it was or further.
  function updateProgress() {
    if (screen !== "section") return;
    var all = pages();
    var index = indexOfPage(all, state.page);
    if (index < 0) return;
    var part = root.querySelector(".k-header__part");
    if (part) part.textContent = paging().counter(index + 1, all.length);
    var value = progressShown(index / (all.length + 1) * 100);
    var bar = root.querySelector(".k-progress");
    if (bar) {
      bar.setAttribute("aria-valuenow", String(Math.round(value)));
      bar.firstChild.style.width = value + "%";
    }
    var next = document.getElementById("k-next");
    if (next) next.textContent = nextText(all, index);
  }

  function nav(buttons) {
    shownAt = Date.now();
    pageTouched = false;
    return el("nav", { className: "k-nav", "aria-label": T("navLabel") }, [el("div", { className: "k-nav__inner" }, buttons)]);
  }

  // Consecutive likert questions sharing one choice list are drawn as one grid (unless drawn as faces).
  function runsOf(items) {
    var runs = [];
    items.forEach(function (q) {
      var last = runs[runs.length - 1];
      // A filtered choice list differs from row to row: such a question is drawn on its own.
      var likert = hasAppearance(q, "likert") && q.type === "single" && q.choices && !q.choice_filter && !isFaces(q);
      if (likert && last && last.likert && last.choices === q.choices) last.items.push(q);
      else runs.push({ likert: !!likert, choices: q.choices, items: [q] });
    });
    return runs;
  }

  function renderQuestions(items, container) {
    runsOf(items).forEach(function (run) {
      if (run.likert) container.appendChild(likertGrid(run));
      else container.appendChild(questionBlock(run.items[0]));
    });
  }

  function errorNode(q) {
    return el("p", { className: "q__error", id: "err-" + q.code, hidden: true });
  }

  function likertGrid(run) {
    var choices = choicesOf(run.items[0]);
    var grid = el("div", { className: "likert", "data-columns": String(choices.length) });
    grid.style.setProperty("--likert-columns", String(choices.length));
    var head = el("div", { className: "likert__head", "aria-hidden": "true" }, [el("span", { className: "likert__corner" })]);
    choices.forEach(function (c) {
      head.appendChild(el("span", { className: "likert__col" }, [
        el("span", { className: "likert__colnum", text: c.code }),
        el("span", { className: "likert__colname", lang: I.langOf(c.label) }, L(c.label))
      ]));
    });
    grid.appendChild(head);
    run.items.forEach(function (q) {
      var row = el("fieldset", {
        className: "q likert__row", "data-code": q.code, "aria-describedby": "err-" + q.code
      });
      row.appendChild(el("legend", { className: "likert__label", id: "label-" + q.code }, [
        el("span", { lang: I.langOf(q.label) }, L(q.label)),
        q.hint ? el("span", { className: "q__hint", lang: I.langOf(q.hint) }, L(q.hint)) : null
      ]));
      var options = el("div", { className: "likert__options" });
      choices.forEach(function (c) {
        var id = "q-" + q.code + "-" + c.code;
        var input = el("input", { type: "radio", name: q.code, value: c.code, id: id, className: "likert__input" });
        input.addEventListener("change", function () { setAnswer(q, c.code); });
        options.appendChild(el("label", { className: "likert__opt", "for": id, "data-value": c.code }, [
          input,
          el("span", { className: "likert__num", "aria-hidden": "true", text: c.code }),
          el("span", { className: "likert__text", lang: I.langOf(c.label) }, L(c.label))
        ]));
      });
      row.appendChild(options);
      row.appendChild(errorNode(q));
      grid.appendChild(row);
    });
    return grid;
  }

  function questionBlock(q) {
    if (q.type === "note") {
      return el("div", { className: "q q--note", "data-code": q.code }, [el("p", { className: "note", lang: I.langOf(q.label) }, L(q.label))]);
    }
    var hint = q.hint ? el("p", { className: "q__hint", id: "hint-" + q.code, lang: I.langOf(q.hint) }, L(q.hint)) : null;
    var describedBy = "err-" + q.code + (hint ? " hint-" + q.code : "");
    if (isFaces(q)) {
      return window.SipasFaces.block(q, choicesOf(q), Q.faces[q.choices], {
        el: el, text: vi, optional: " " + T("optional"), describedBy: describedBy, hint: hint, error: errorNode(q),
        onPick: function (code) { setAnswer(q, code); }
      });
    }
    if (q.type === "single" || q.type === "multiple") {
      var choices = choicesOf(q);
      var short = choices.length <= 3 && choices.every(function (c) { return vi(c.label).length <= 16; });
      var box = el("fieldset", { className: "q q--choice", "data-code": q.code, "aria-describedby": describedBy }, [
        el("legend", { className: "q__label", id: "label-" + q.code }, [
          el("span", { lang: I.langOf(q.label) }, L(q.label)),
          q.required ? null : el("span", { className: "q__optional", text: " " + T("optional") })
        ]),
        hint
      ]);
      var list = el("div", { className: "choices" + (short ? " choices--inline" : "") });
      choices.forEach(function (c) {
        var id = "q-" + q.code + "-" + c.code;
        var input = el("input", {
          type: q.type === "single" ? "radio" : "checkbox", name: q.code, value: c.code, id: id, className: "choice__input"
        });
        input.addEventListener("change", function () {
          if (q.type === "single") {
            setAnswer(q, c.code);
          } else {
            var picked = Array.prototype.filter.call(
              list.querySelectorAll("input"), function (i) { return i.checked; }
            ).map(function (i) { return i.value; });
            setAnswer(q, picked);
          }
        });
        list.appendChild(el("label", { className: "choice", "for": id, "data-value": c.code }, [
          input, el("span", { className: "choice__mark", "aria-hidden": "true" }), el("span", { className: "choice__text", lang: I.langOf(c.label) }, L(c.label))
        ]));
      });
      box.appendChild(list);
      box.appendChild(errorNode(q));
      return box;
    }
    var inputId = "q-" + q.code;
    var field;
    if (q.type === "text") {
      field = el("textarea", { id: inputId, name: q.code, rows: "4", maxlength: "4000", className: "input input--text", "aria-describedby": describedBy });
      field.addEventListener("input", function () { setAnswer(q, field.value.trim().normalize("NFC")); });
    } else if (q.type === "date") {
      field = el("input", { id: inputId, name: q.code, type: "date", className: "input input--date", "aria-describedby": describedBy });
      field.addEventListener("change", function () { setTyped(q, field.value); });
      field.addEventListener("input", function () { setTyped(q, field.value); });
    } else {
      field = el("input", {
        id: inputId, name: q.code, type: "text", className: "input input--number", autocomplete: "off",
        inputmode: q.type === "integer" ? "numeric" : "decimal", "aria-describedby": describedBy
      });
      field.addEventListener("input", function () { setTyped(q, field.value); });
    }
    return el("div", { className: "q q--input", "data-code": q.code }, [
      el("label", { className: "q__label", "for": inputId, id: "label-" + q.code }, [
        el("span", { lang: I.langOf(q.label) }, L(q.label)),
        q.required ? null : el("span", { className: "q__optional", text: " " + T("optional") })
      ]),
      hint, field, errorNode(q)
    ]);
  }

  // Typed numbers and dates: kept as a draft until they parse, so half-typed text is never an answer.
  function setTyped(q, raw) {
    var text = String(raw || "").trim();
    if (text === "") {
      delete state.drafts[q.code];
      setAnswer(q, null);
      return;
    }
    var value = null;
    var error = "";
    if (q.type === "integer") {
      if (/^[+-]?\d+$/.test(text) && Math.abs(parseInt(text, 10)) < 1e15) value = parseInt(text, 10);
      else error = T("needInteger");
    } else if (q.type === "decimal") {
      var t = text.replace(/\s/g, "");
      if (t.indexOf(",") >= 0 && t.indexOf(".") < 0 && t.split(",").length === 2) t = t.replace(",", ".");
      if (/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(t) && Math.abs(Number(t)) < 1e15) value = Number(t);
      else error = T("needDecimal");
    } else if (q.type === "date") {
      if (/^\d{4}-\d{2}-\d{2}$/.test(text) && !isNaN(Date.parse(text + "T00:00:00Z"))) value = text;
      else error = T("needDate");
    }
    if (error) {
      state.drafts[q.code] = { text: text, error: error };
      delete state.answers[q.code];
      refresh();
      save();
      return;
    }
    delete state.drafts[q.code];
    setAnswer(q, value);
  }

  function setAnswer(q, value) {
    if (isEmpty(value)) delete state.answers[q.code];
    else state.answers[q.code] = value;
    delete state.serverErrors[q.code];
    var shown = document.getElementById("err-" + q.code);
    if (shown && shown.getAttribute("data-shown") === "1") {
      // An item the person was told about: re-check it as they fix it.
      showError(q, problemOf(q));
    }
    refresh();
    updateSummary();
    updateProgress();
    save();
  }

  // Show/hide the questions of the current page after an answer changed; clear what is hidden.
  function refresh() {
    dropInapplicable();
    var page = pageByKey(state.page);
    if (!page || screen !== "section") return;
    var visible = {};
    visibleQuestions(page.section).forEach(function (q) { visible[q.code] = true; });
    page.items.forEach(function (q) {
      var node = app.querySelector('[data-code="' + q.code + '"]');
      if (!node) return;
      var show = !!visible[q.code];
      node.hidden = !show;
      if (!show) resetInputs(node);
      else {
        if (q.choice_filter) showOffered(q, node);
        syncInputs(q, node);
      }
    });
    Array.prototype.forEach.call(app.querySelectorAll(".likert"), function (grid) {
      var anyRow = Array.prototype.some.call(grid.querySelectorAll(".likert__row"), function (r) { return !r.hidden; });
      grid.hidden = !anyRow;
    });
  }

  // Cascading selects: only the choices the question's choice filter offers with the answers so far.
  function showOffered(q, node) {
    var offered = {};
    E.offeredChoices(Q, q, state.answers).forEach(function (c) { offered[c.code] = true; });
    Array.prototype.forEach.call(node.querySelectorAll("label.choice"), function (label) {
      label.hidden = !offered[label.getAttribute("data-value")];
    });
  }

  function resetInputs(node) {
    Array.prototype.forEach.call(node.querySelectorAll("input, textarea"), function (input) {
      if (input.type === "radio" || input.type === "checkbox") input.checked = false;
      else input.value = "";
    });
    var err = node.querySelector(".q__error");
    if (err) {
      err.hidden = true;
      err.textContent = "";
      err.removeAttribute("data-shown");
    }
    node.classList.remove("q--invalid");
  }

  // Put the state's answer into the inputs (after a restore, a "Sửa", or the back button).
  function syncInputs(q, node) {
    var value = state.answers[q.code];
    var draft = state.drafts[q.code];
    Array.prototype.forEach.call(node.querySelectorAll("input, textarea"), function (input) {
      if (input.type === "radio") {
        input.checked = value !== undefined && String(value) === input.value;
        input.parentNode.classList.toggle("is-selected", input.checked);
      } else if (input.type === "checkbox") {
        input.checked = Array.isArray(value) && value.indexOf(input.value) >= 0;
        input.parentNode.classList.toggle("is-selected", input.checked);
      } else if (document.activeElement !== input) {
        if (draft) input.value = draft.text;
        else input.value = value === undefined ? "" : (q.type === "decimal" ? String(value).replace(".", ",") : String(value));
      }
    });
    var serverError = state.serverErrors[q.code];
    if (serverError) showError(q, serverError);
  }

  function showError(q, message) {
    var node = document.getElementById("err-" + q.code);
    if (!node) return;
    var block = node.closest(".q");
    if (message) {
      node.textContent = message;
      node.hidden = false;
      node.setAttribute("data-shown", "1");
      if (block) block.classList.add("q--invalid");
      if (block && block.tagName === "FIELDSET") block.setAttribute("aria-invalid", "true");
    } else {
      node.textContent = "";
      node.hidden = true;
      if (block) block.classList.remove("q--invalid");
      if (block) block.removeAttribute("aria-invalid");
    }
  }

  // Keep the page's "N questions left" line true while the person fixes them.
  function updateSummary() {
    var summary = document.getElementById("k-page-errors");
    if (!summary || summary.hidden || screen !== "section") return;
    var left = checkPage(pageByKey(state.page), false);
    summary.hidden = left === 0;
    summary.textContent = left ? T("pageErrors", { n: left }) : "";
  }

  // Check one page; show the messages when `show`; return the number of problems.
  function checkPage(page, show) {
    var problems = 0;
    var first = null;
    var visible = {};
    visibleQuestions(page.section).forEach(function (q) { visible[q.code] = true; });
    page.items.forEach(function (q) {
      if (!visible[q.code] || !E.answerable(q)) return;
      var message = problemOf(q) || state.serverErrors[q.code] || "";
      if (show) showError(q, message);
      if (message) {
        problems += 1;
        if (!first) first = q;
      }
    });
    if (show) {
      var summary = document.getElementById("k-page-errors");
      if (summary) {
        summary.hidden = problems === 0;
        summary.textContent = problems ? T("pageErrors", { n: problems }) : "";
      }
      if (first) {
        var block = app.querySelector('[data-code="' + first.code + '"]');
        if (block) {
          block.scrollIntoView({ block: "center" });
          var target = block.querySelector("input, textarea");
          if (target) target.focus({ preventScroll: true });
        }
      }
    }
    return problems;
  }

  function goNext() {
    var all = pages();
    var index = indexOfPage(all, state.page);
    if (index < 0) {
      showPage(state.page); // the page stopped applying under the person's finger: redraw where they are
      return;
    }
    if (checkPage(all[index], true)) return;
    if ((state.fromReview && lastOfSection(all, index)) || index === all.length - 1) {
      // Before the review, every page that is asked must be complete (answers may have opened new ones).
      for (var i = 0; i < all.length; i += 1) {
        if (checkPage(all[i], false)) {
          if (i !== index) {
            showPage(all[i].key);
            checkPage(all[i], true);
          }
          return;
        }
      }
      showReview();
      return;
    }
    showPage(all[index + 1].key);
  }

  function goBack() {
    var all = pages();
    var index = indexOfPage(all, state.page);
    if (state.fromReview && firstOfSection(all, index)) {
      showReview();
      return;
    }
    if (index > 0) showPage(all[index - 1].key);
  }

  function answerText(q, value) {
    if (isEmpty(value)) return T("noAnswer");
    if (q.type === "single") {
      var choice = choicesOf(q).filter(function (c) { return c.code === String(value); })[0];
      var label = choice ? vi(choice.label) : String(value);
      return hasAppearance(q, "likert") ? value + " — " + label : label;
    }
    if (q.type === "multiple") {
      return value.map(function (code) {
        var c = choicesOf(q).filter(function (x) { return x.code === code; })[0];
        return c ? vi(c.label) : code;
      }).join("; ");
    }
    if (q.type === "decimal") return String(value).replace(".", ",");
    if (q.type === "date") {
      var p = String(value).split("-");
      return p.length === 3 ? p[2] + "/" + p[1] + "/" + p[0] : String(value);
    }
    return String(value);
  }

  function showReview(fromHistory) {
    screen = "review";
    state.fromReview = false;
    track("review");
    var sections = visibleSections();
    var count = pages().length;
    var main = frame({
      kind: "review", restart: true, counter: T("reviewTitle"),
      progress: progressShown(count / (count + 1) * 100)
    });
    main.appendChild(el("h1", { className: "k-section__title", text: T("reviewTitle") }));
    main.appendChild(el("p", { className: "k-section__intro", text: T("reviewIntro") }));
    if (window.SipasAudio) window.SipasAudio.message(main, "review", T("reviewIntro"));
    var general = el("div", { className: "k-review__general", id: "k-general", role: "alert", hidden: true });
    main.appendChild(general);
    sections.forEach(function (section) {
      var list = el("dl", { className: "review__list" });
      visibleQuestions(section).forEach(function (q) {
        if (!E.answerable(q)) return;
        var error = state.serverErrors[q.code];
        list.appendChild(el("div", { className: "review__item" + (error ? " review__item--invalid" : "") }, [
          el("dt", { lang: I.langOf(q.label) }, L(q.label)),
          el("dd", { className: isEmpty(state.answers[q.code]) ? "review__none" : "", text: answerText(q, state.answers[q.code]) }),
          error ? el("dd", { className: "q__error", text: error }) : null
        ]));
      });
      main.appendChild(el("section", { className: "review", "aria-labelledby": "rv-" + section.code }, [
        el("div", { className: "review__head" }, [
          el("h2", { id: "rv-" + section.code, lang: I.langOf(section.label) }, L(section.label)),
          el("button", {
            type: "button", className: "btn btn--secondary btn--small", "data-edit": section.code,
            "aria-label": T("edit") + ": " + vi(section.label), text: T("edit"),
            onclick: function () { state.fromReview = true; showPage(firstPageOf(section).key); }
          })
        ]),
        list
      ]));
    });
    var status = el("p", { className: "k-status", id: "k-status", role: "status", "aria-live": "polite" });
    main.appendChild(status);
    root.appendChild(nav([
      el("button", { type: "button", className: "btn btn--secondary", id: "k-back", text: T("back"), onclick: guarded(function () {
        var all = pages();
        showPage(all[all.length - 1].key);
      }) }),
      el("button", { type: "button", className: "btn btn--primary", id: "k-submit", text: T("submit"), onclick: guarded(submit) })
    ]));
    if (!fromHistory) pushHistory();
    save();
    touch();
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }

  function firstPageOf(section) {
    return pages().filter(function (p) { return p.section === section; })[0];
  }

  function buildPayload() {
    var now = new Date();
    var answers = {};
    Object.keys(state.answers).forEach(function (code) { answers[code] = state.answers[code]; });
    // Device-filled metadata, as ODK fills start/end/today.
    Q.sections.forEach(function (s) {
      s.questions.forEach(function (q) {
        if (q.type === "start") answers[q.code] = state.startedAt;
        if (q.type === "end") answers[q.code] = now.toISOString();
        if (q.type === "today") answers[q.code] = localDate(now);
      });
    });
    var body = {
      instance_id: state.instanceId,
      kiosk_token: config.token,
      questionnaire: Q.id,
      version: Q.version,
      answers: answers,
      started_at: state.startedAt,
      submitted_at: now.toISOString()
    };
    // A server whose definition lists languages takes the one the form was shown in.
    if (def.languages) body.language = state.lang || "vi";
    if (window.SipasCode) window.SipasCode.decorate(body); // the answer code; a phone's campaign and unit
    if (paradataOn()) {
      track(null);
      var paradata = paradataPayload();
      if (paradata) body.paradata = paradata;
    }
    return body;
  }

  function setSending(on) {
    var submitButton = document.getElementById("k-submit");
    var back = document.getElementById("k-back");
    Array.prototype.forEach.call(root.querySelectorAll("[data-edit]"), function (b) { b.disabled = on; });
    if (submitButton) {
      submitButton.disabled = on;
      submitButton.setAttribute("aria-busy", on ? "true" : "false");
      submitButton.textContent = on ? T("sending") : T("submit");
    }
    if (back) back.disabled = on;
  }

  function submit() {
    if (screen === "sending") return; // a double tap
    if (!state.payload) state.payload = buildPayload();
    screen = "sending";
    clearTimer("idle");
    save();
    setSending(true);
    var status = document.getElementById("k-status");
    if (status) status.textContent = T("sending");
    S.send(config.submitUrl, state.payload, {
      appVersion: config.appVersion,
      unitName: def.kiosk.unit_name || config.unitName,
      onRetry: function () {
        if (status) {
          status.textContent = T("retrying");
          status.className = "k-status k-status--warning";
        }
      }
    }).then(function (result) {
      // queued: safely in the tablet's outbox, which sends it (and keeps it if the server refuses).
      if (result.kind === "queued" || result.kind === "stored" || result.kind === "conflict") {
        // conflict: an earlier copy of this very form is stored; the person's answers are in.
        showThanks();
        return;
      }
      state.payload = null; // nothing was stored: the next tap sends a fresh copy
      screen = "review";
      setSending(false);
      if (result.kind === "invalid") {
        serverProblems(result.errors);
      } else if (result.kind === "forbidden") {
        showInvalid();
      } else {
        showGeneral(result.message || T("rejected"));
      }
      save();
      touch();
    });
  }

  function serverProblems(errors) {
    state.serverErrors = {};
    var general = [];
    errors.forEach(function (e) {
      if (e.item && questions[e.item]) state.serverErrors[e.item] = e.message;
      else if (e.item === "questionnaire") general.push(T("outdated"));
      else general.push(e.message);
    });
    showReview(true);
    showGeneral([T("serverErrors")].concat(general).join(" "));
  }

  function showGeneral(message) {
    var general = document.getElementById("k-general");
    if (!general) return;
    general.textContent = message;
    general.hidden = false;
    general.scrollIntoView({ block: "center" });
  }

  function showThanks() {
    screen = "thanks";
    state = null;
    if (window.SipasCode) window.SipasCode.reset(); // the code is spent with this form
    save();
    clearTimer("idle");
    var main = frame({ kind: "thanks" });
    var left = def.reset_seconds;
    var count = el("p", { className: "thanks__count", text: T("resetIn", { s: left }) });
    main.appendChild(el("section", { className: "thanks", "aria-live": "polite" }, [
      el("div", { className: "thanks__icon", "aria-hidden": "true", text: "✓" }),
      el("h1", { className: "thanks__title", id: "k-thanks", text: T("thanksTitle") }),
      el("p", { className: "thanks__text", id: "k-thanks-text", text: T("thanksText") }),
      count,
      el("button", { type: "button", className: "btn btn--secondary btn--big", text: T("newForm"), onclick: showWelcome })
    ]));
    if (window.SipasAudio) window.SipasAudio.message(main.querySelector(".thanks"), "thanks", T("thanksTitle") + " " + T("thanksText"));
    timers.reset = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        showWelcome();
        return;
      }
      count.textContent = T("resetIn", { s: left });
    }, 1000);
    main.focus({ preventScroll: true });
  }

  function showInvalid() {
    screen = "invalid";
    state = null;
    clearTimer("idle");
    var main = frame({ kind: "invalid" });
    main.appendChild(el("section", { className: "thanks" }, [
      el("h1", { className: "thanks__title", text: T("invalidTitle") }),
      el("p", { className: "thanks__text", text: T("invalidText") })
    ]));
  }

  // ------------------------------------------------------------------------------------ start

  function load(attempt) {
    root.setAttribute("aria-busy", "true");
    fetch(config.definitionUrl, { credentials: "omit", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 403 || response.status === 404 || response.status === 401) {
          showInvalidStandalone();
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (json) {
        if (!json) return;
        def = json;
        Q = def.questionnaire;
        I.setup(def);
        slotCache = {};
        Q.sections.forEach(function (s) {
          s.questions.forEach(function (q) { questions[q.code] = { q: q, section: s }; });
        });
        root.removeAttribute("aria-busy");
        if (window.SipasAudio) window.SipasAudio.init(def);
        if (window.SipasStaff) {
          window.SipasStaff.setDefinition({ questionnaire: Q.id, version: Q.version, campaign: def.campaign.name });
        }
        if (!restore()) showWelcome();
      })
      .catch(function () {
        var note = root.querySelector(".k-loading");
        if (note) note.textContent = BOOT.loadFailed;
        setTimeout(function () { load((attempt || 0) + 1); }, Math.min(30000, 2000 * Math.pow(2, attempt || 0)));
      });
  }

  function showInvalidStandalone() {
    root.innerHTML = "";
    root.className = "kiosk-app kiosk-app--invalid";
    root.appendChild(el("main", { className: "k-main" }, [el("section", { className: "thanks" }, [
      el("h1", { className: "thanks__title", text: BOOT.invalidTitle }),
      el("p", { className: "thanks__text", text: BOOT.invalidText })
    ])]));
  }

  // Any activity postpones the idle warning. While the warning shows, only a tap on it dismisses it:
  // hiding it on pointerdown would let the same tap land on an answer underneath.
  ["pointerdown", "keydown", "input", "scroll", "touchstart"].forEach(function (type) {
    window.addEventListener(type, function () {
      if (idleArmed() && !document.querySelector(".idle-warning:not(.k-restart)")) touch();
    }, { passive: true, capture: true });
  });
  // A tap anywhere but the page's buttons (an answer, the page itself) lifts the double-tap guard.
  window.addEventListener("pointerdown", function (event) {
    if (!(event.target && event.target.closest && event.target.closest(".k-nav"))) pageTouched = true;
  }, { passive: true, capture: true });
  // Paradata: every tap (or click) on a page of the form counts for that page.
  window.addEventListener("pointerdown", countTap, { passive: true, capture: true });
  // Tablets: a double tap must not zoom the grid; selection state is mirrored on the label.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || (input.type !== "radio" && input.type !== "checkbox")) return;
    var group = root.querySelectorAll('input[name="' + input.name + '"]');
    Array.prototype.forEach.call(group, function (i) { i.parentNode.classList.toggle("is-selected", i.checked); });
  });

  // For checks on the tablet (and the tests): a copy of the form being filled, or null between forms.
  // The language the respondent reads and hears (one place, for the languages' welcome choice to set).
  function currentLanguage() {
    return I.lang();
  }

  window.SipasKiosk = {
    formState: function () { return state ? JSON.parse(JSON.stringify(state)) : null; },
    screen: function () { return screen; },
    language: currentLanguage,
    lang: function () { return I.lang(); }
  };

  load(0);
})();
