/*
 * The tablet kiosk: welcome -> one section per page -> review -> submit -> thank you -> fresh form.
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
  if (!root || !E || !S) return;
  var el = window.SipasDom.el;

  var TEXT = {
    loading: "Đang tải phiếu khảo sát…",
    loadFailed: "Chưa tải được phiếu khảo sát. Đang thử lại…",
    start: "Bắt đầu",
    back: "Quay lại",
    next: "Tiếp tục",
    toReview: "Xem lại phiếu",
    backToReview: "Lưu và xem lại",
    submit: "Gửi phiếu",
    sending: "Đang gửi phiếu…",
    retrying: "Chưa kết nối được máy chủ. Phiếu của Ông/Bà vẫn được giữ nguyên, máy đang tự gửi lại…",
    edit: "Sửa",
    noAnswer: "Không trả lời",
    reviewTitle: "Xem lại câu trả lời",
    reviewIntro: "Xin Ông/Bà kiểm tra lại. Muốn thay đổi, chạm “Sửa” ở phần tương ứng. Nếu đã đúng, chạm “Gửi phiếu”.",
    thanksTitle: "Xin cảm ơn Ông/Bà!",
    // The same words whether the form is already on the server or still in the tablet's outbox: it is
    // safe either way, and sending is the staff's concern (their panel), not the respondent's.
    thanksText: "Đã ghi nhận ý kiến của Ông/Bà. Chúc Ông/Bà một ngày tốt lành.",
    newForm: "Mở phiếu mới ngay",
    needChoice: "Xin Ông/Bà chọn một câu trả lời.",
    needChoices: "Xin Ông/Bà chọn ít nhất một câu trả lời.",
    needAnswer: "Xin Ông/Bà trả lời câu này.",
    needInteger: "Xin nhập một số nguyên, ví dụ: 2.",
    needDecimal: "Xin nhập một số, ví dụ: 2,5.",
    needDate: "Xin chọn một ngày hợp lệ.",
    badValue: "Câu trả lời chưa hợp lệ, xin kiểm tra lại.",
    pageErrors: function (n) {
      return n === 1 ? "Còn 1 câu cần trả lời hoặc sửa lại (đánh dấu màu đỏ)." :
        "Còn " + n + " câu cần trả lời hoặc sửa lại (đánh dấu màu đỏ).";
    },
    serverErrors: "Máy chủ chưa nhận phiếu vì một số câu trả lời chưa hợp lệ. Xin sửa các câu được đánh dấu rồi gửi lại.",
    outdated: "Phiếu trên máy đã cũ. Xin báo cán bộ tại Bộ phận Một cửa tải lại trang.",
    invalidTitle: "Đường dẫn không còn hiệu lực",
    invalidText: "Máy tính bảng này không còn được nhận phiếu (đường dẫn đã bị thu hồi hoặc đợt khảo sát đã kết thúc). Xin báo cán bộ tại Bộ phận Một cửa.",
    rejected: "Máy chủ không nhận phiếu này. Xin báo cán bộ tại Bộ phận Một cửa.",
    idleTitle: "Ông/Bà còn tiếp tục trả lời không?",
    idleText: function (s) {
      return "Phiếu chưa gửi sẽ được xoá sau " + s + " giây nếu không có thao tác.";
    },
    idleContinue: "Tiếp tục trả lời",
    restart: "Làm lại từ đầu",
    restartTitle: "Làm lại từ đầu?",
    restartText: "Mọi câu trả lời trên phiếu này sẽ bị xoá và phiếu mới mở từ đầu.",
    restartConfirm: "Xoá và làm lại",
    resetIn: function (s) { return "Phiếu mới sẽ mở sau " + s + " giây."; },
    part: function (i, n) { return "Phần " + i + "/" + n; },
    minutes: function (n) { return "Khoảng " + n + " phút"; },
    how: "Chạm vào câu trả lời phù hợp với Ông/Bà. Trước khi gửi, Ông/Bà có thể xem lại và sửa.",
    surveyName: "Khảo sát ý kiến người dân",
    anonymous: "Không ghi tên người trả lời",
    sections: function (n) { return n + " phần"; }
  };

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

  function vi(label) {
    if (!label) return "";
    return typeof label === "string" ? label : (label.vi || "");
  }

  function isEmpty(v) {
    return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);
  }

  function choicesOf(q) {
    return (q.choices && Q.choice_lists[q.choices]) || [];
  }

  function isMetadata(q) {
    return q.type === "start" || q.type === "end" || q.type === "today";
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
      if (q.type === "single") return TEXT.needChoice;
      if (q.type === "multiple") return TEXT.needChoices;
      return TEXT.needAnswer;
    }
    if (q.constraint && !E.holds(q.constraint, state.answers, value)) {
      return vi(q.constraint_message) || TEXT.badValue;
    }
    return "";
  }

  // ----------------------------------------------------------------------------- form state

  function newState() {
    return {
      instanceId: S.newInstanceId(),
      startedAt: new Date().toISOString(),
      answers: defaultAnswers(),
      drafts: {}, // code -> {text, error}: typed numbers not yet valid
      page: null, // section code
      fromReview: false,
      payload: null, // frozen at the first "Gửi phiếu" tap, re-sent unchanged on retries
      serverErrors: {}
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
      if (state.payload) {
        showReview();
        submit();
      } else if (saved.screen === "review") {
        showReview();
      } else {
        showSection(state.page);
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
    var count = el("p", { className: "idle-warning__count", "aria-live": "polite", text: TEXT.idleText(left) });
    var button = el("button", { type: "button", className: "btn btn--primary btn--big", text: TEXT.idleContinue });
    var box = el("div", {
      className: "idle-warning", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "idle-title"
    }, [
      el("div", { className: "idle-warning__box" }, [
        el("h2", { id: "idle-title", text: TEXT.idleTitle }), count, button
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
      count.textContent = TEXT.idleText(left);
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
      type: "button", className: "btn btn--secondary btn--big", id: "k-restart-cancel", text: TEXT.idleContinue,
      onclick: function () { closeRestart(); touch(); }
    });
    var box = el("div", {
      className: "idle-warning k-restart", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "restart-title"
    }, [
      el("div", { className: "idle-warning__box" }, [
        el("h2", { id: "restart-title", text: TEXT.restartTitle }),
        el("p", { className: "idle-warning__count", text: TEXT.restartText }),
        el("div", { className: "k-restart__buttons" }, [
          keep,
          el("button", {
            type: "button", className: "btn btn--danger btn--big", id: "k-restart-confirm", text: TEXT.restartConfirm,
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
        showSection(entry.page, true);
        return;
      }
    }
    // Back after a submission, into another form, or past the start: stay where we are.
    pushHistory();
  });

  // ------------------------------------------------------------------------------- rendering

  function frame(options) {
    clearTimer("reset");
    hideIdleWarning();
    closeRestart();
    root.innerHTML = "";
    root.className = "kiosk-app kiosk-app--" + options.kind;
    var header = el("header", { className: "k-header" }, [
      el("div", { className: "k-header__unit", text: options.title || def.kiosk.unit_name || config.unitName }),
      options.counter ? el("div", { className: "k-header__part", text: options.counter }) : null,
      options.restart ? el("button", {
        type: "button", className: "k-restart-button", id: "k-restart", text: TEXT.restart, onclick: askRestart
      }) : null
    ]);
    if (window.SipasStaff) window.SipasStaff.mount(header); // the staff badge: queue and connection
    root.appendChild(header);
    if (options.progress !== undefined) {
      var bar = el("div", {
        className: "k-progress", role: "progressbar", "aria-label": "Tiến độ trả lời phiếu",
        "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(options.progress))
      }, [el("div", { className: "k-progress__bar" })]);
      bar.firstChild.style.width = options.progress + "%";
      root.appendChild(bar);
    }
    app = el("main", { className: "k-main", id: "k-main", tabindex: "-1" });
    root.appendChild(app);
    return app;
  }

  function showWelcome() {
    screen = "welcome";
    save();
    touch();
    // "Mỗi hồ sơ một phiếu": a code first (code.js draws that step and comes back here once it is taken).
    if (window.SipasCode && window.SipasCode.gate({ def: def, frame: frame, done: showWelcome })) return;
    var main = frame({ kind: "welcome", title: TEXT.surveyName });
    var description = vi(Q.description);
    var path = applicablePath();
    var count = path.sections;
    var asked = path.items;
    main.appendChild(el("section", { className: "welcome" }, [
      el("p", { className: "welcome__unit", text: def.kiosk.unit_name || config.unitName }),
      el("h1", { className: "welcome__title", text: vi(Q.title) }),
      description ? el("p", { className: "welcome__text", text: description }) : null,
      el("ul", { className: "welcome__facts" }, [
        el("li", { text: TEXT.minutes(Math.max(2, Math.round(asked * 10 / 60))) }),
        el("li", { text: TEXT.anonymous }),
        el("li", { text: TEXT.sections(count) })
      ]),
      el("p", { className: "welcome__how", text: TEXT.how }),
      el("button", {
        type: "button", className: "btn btn--primary btn--huge", id: "k-start", text: TEXT.start,
        onclick: startForm
      }),
      el("p", { className: "welcome__campaign", text: def.campaign.name }),
    ]));
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
    var first = visibleSections()[0];
    showSection(first.code);
  }

  function sectionByCode(code) {
    for (var i = 0; i < Q.sections.length; i += 1) if (Q.sections[i].code === code) return Q.sections[i];
    return null;
  }

  function showSection(code, fromHistory) {
    var section = sectionByCode(code) || visibleSections()[0];
    var sections = visibleSections();
    var index = sections.indexOf(section);
    if (index < 0) {
      section = sections[0];
      index = 0;
    }
    screen = "section";
    state.page = section.code;
    track(String(Q.sections.indexOf(section)));
    var main = frame({
      kind: "section",
      restart: true,
      counter: TEXT.part(index + 1, sections.length),
      progress: progressShown(index / (sections.length + 1) * 100)
    });
    var body = el("div", { className: "k-section" });
    // Questions outside any XLSForm group have no page title of their own: the form's title serves.
    body.appendChild(el("h1", { className: "k-section__title", text: vi(section.label) || vi(Q.title) }));
    if (section.intro) body.appendChild(el("p", { className: "k-section__intro", text: vi(section.intro) }));
    renderQuestions(section, body);
    main.appendChild(body);
    main.appendChild(el("p", { className: "k-page-errors", id: "k-page-errors", role: "alert", hidden: true }));
    var nextText = state.fromReview ? TEXT.backToReview : (index === sections.length - 1 ? TEXT.toReview : TEXT.next);
    root.appendChild(nav([
      index > 0 || state.fromReview ? el("button", {
        type: "button", className: "btn btn--secondary", id: "k-back", text: TEXT.back, onclick: guarded(goBack)
      }) : el("span"),
      el("button", { type: "button", className: "btn btn--primary", id: "k-next", text: nextText, onclick: guarded(goNext) })
    ]));
    refresh();
    if (!fromHistory) pushHistory();
    save();
    touch();
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
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
    var sections = visibleSections();
    var index = sections.indexOf(sectionByCode(state.page));
    if (index < 0) return;
    var part = root.querySelector(".k-header__part");
    if (part) part.textContent = TEXT.part(index + 1, sections.length);
    var value = progressShown(index / (sections.length + 1) * 100);
    var bar = root.querySelector(".k-progress");
    if (bar) {
      bar.setAttribute("aria-valuenow", String(Math.round(value)));
      bar.firstChild.style.width = value + "%";
    }
    var next = document.getElementById("k-next");
    if (next && !state.fromReview) next.textContent = index === sections.length - 1 ? TEXT.toReview : TEXT.next;
  }

  function nav(buttons) {
    shownAt = Date.now();
    pageTouched = false;
    return el("nav", { className: "k-nav", "aria-label": "Chuyển trang" }, [el("div", { className: "k-nav__inner" }, buttons)]);
  }

  // Consecutive likert questions sharing one choice list are drawn as one grid.
  function runsOf(section) {
    var runs = [];
    section.questions.forEach(function (q) {
      if (isMetadata(q) || E.isComputed(q)) return;
      var last = runs[runs.length - 1];
      // A filtered choice list differs from row to row: such a question is drawn on its own.
      var likert = q.appearance === "likert" && q.type === "single" && q.choices && !q.choice_filter;
      if (likert && last && last.likert && last.choices === q.choices) last.items.push(q);
      else runs.push({ likert: !!likert, choices: q.choices, items: [q] });
    });
    return runs;
  }

  function renderQuestions(section, container) {
    runsOf(section).forEach(function (run) {
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
        el("span", { className: "likert__colname", text: vi(c.label) })
      ]));
    });
    grid.appendChild(head);
    run.items.forEach(function (q) {
      var row = el("fieldset", {
        className: "q likert__row", "data-code": q.code, "aria-describedby": "err-" + q.code
      });
      row.appendChild(el("legend", { className: "likert__label", id: "label-" + q.code }, [
        vi(q.label), q.hint ? el("span", { className: "q__hint", text: vi(q.hint) }) : null
      ]));
      var options = el("div", { className: "likert__options" });
      choices.forEach(function (c) {
        var id = "q-" + q.code + "-" + c.code;
        var input = el("input", { type: "radio", name: q.code, value: c.code, id: id, className: "likert__input" });
        input.addEventListener("change", function () { setAnswer(q, c.code); });
        options.appendChild(el("label", { className: "likert__opt", "for": id, "data-value": c.code }, [
          input,
          el("span", { className: "likert__num", "aria-hidden": "true", text: c.code }),
          el("span", { className: "likert__text", text: vi(c.label) })
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
      return el("div", { className: "q q--note", "data-code": q.code }, [el("p", { className: "note", text: vi(q.label) })]);
    }
    var hint = q.hint ? el("p", { className: "q__hint", id: "hint-" + q.code, text: vi(q.hint) }) : null;
    var describedBy = "err-" + q.code + (hint ? " hint-" + q.code : "");
    if (q.type === "single" || q.type === "multiple") {
      var choices = choicesOf(q);
      var short = choices.length <= 3 && choices.every(function (c) { return vi(c.label).length <= 16; });
      var box = el("fieldset", { className: "q q--choice", "data-code": q.code, "aria-describedby": describedBy }, [
        el("legend", { className: "q__label", id: "label-" + q.code }, [vi(q.label), q.required ? null : el("span", { className: "q__optional", text: " (không bắt buộc)" })]),
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
          input, el("span", { className: "choice__mark", "aria-hidden": "true" }), el("span", { className: "choice__text", text: vi(c.label) })
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
        vi(q.label), q.required ? null : el("span", { className: "q__optional", text: " (không bắt buộc)" })
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
      else error = TEXT.needInteger;
    } else if (q.type === "decimal") {
      var t = text.replace(/\s/g, "");
      if (t.indexOf(",") >= 0 && t.indexOf(".") < 0 && t.split(",").length === 2) t = t.replace(",", ".");
      if (/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(t) && Math.abs(Number(t)) < 1e15) value = Number(t);
      else error = TEXT.needDecimal;
    } else if (q.type === "date") {
      if (/^\d{4}-\d{2}-\d{2}$/.test(text) && !isNaN(Date.parse(text + "T00:00:00Z"))) value = text;
      else error = TEXT.needDate;
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
    var section = sectionByCode(state.page);
    if (!section || screen !== "section") return;
    var visible = {};
    visibleQuestions(section).forEach(function (q) { visible[q.code] = true; });
    section.questions.forEach(function (q) {
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
    var left = checkSection(sectionByCode(state.page), false);
    summary.hidden = left === 0;
    summary.textContent = left ? TEXT.pageErrors(left) : "";
  }

  // Check one section; show the messages when `show`; return the number of problems.
  function checkSection(section, show) {
    var problems = 0;
    var first = null;
    visibleQuestions(section).forEach(function (q) {
      if (!E.answerable(q)) return;
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
        summary.textContent = problems ? TEXT.pageErrors(problems) : "";
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
    var section = sectionByCode(state.page);
    if (checkSection(section, true)) return;
    var sections = visibleSections();
    var index = sections.indexOf(section);
    if (state.fromReview || index === sections.length - 1) {
      // Before the review, every page that is asked must be complete (answers may have opened new ones).
      for (var i = 0; i < sections.length; i += 1) {
        if (checkSection(sections[i], false)) {
          if (sections[i] !== section) {
            showSection(sections[i].code);
            checkSection(sections[i], true);
          }
          return;
        }
      }
      showReview();
      return;
    }
    showSection(sections[index + 1].code);
  }

  function goBack() {
    if (state.fromReview) {
      showReview();
      return;
    }
    var sections = visibleSections();
    var index = sections.indexOf(sectionByCode(state.page));
    if (index > 0) showSection(sections[index - 1].code);
  }

  function answerText(q, value) {
    if (isEmpty(value)) return TEXT.noAnswer;
    if (q.type === "single") {
      var choice = choicesOf(q).filter(function (c) { return c.code === String(value); })[0];
      var label = choice ? vi(choice.label) : String(value);
      return q.appearance === "likert" ? value + " — " + label : label;
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
    var main = frame({
      kind: "review", restart: true, counter: TEXT.reviewTitle,
      progress: progressShown(sections.length / (sections.length + 1) * 100)
    });
    main.appendChild(el("h1", { className: "k-section__title", text: TEXT.reviewTitle }));
    main.appendChild(el("p", { className: "k-section__intro", text: TEXT.reviewIntro }));
    var general = el("div", { className: "k-review__general", id: "k-general", role: "alert", hidden: true });
    main.appendChild(general);
    sections.forEach(function (section) {
      var list = el("dl", { className: "review__list" });
      visibleQuestions(section).forEach(function (q) {
        if (!E.answerable(q)) return;
        var error = state.serverErrors[q.code];
        list.appendChild(el("div", { className: "review__item" + (error ? " review__item--invalid" : "") }, [
          el("dt", { text: vi(q.label) }),
          el("dd", { className: isEmpty(state.answers[q.code]) ? "review__none" : "", text: answerText(q, state.answers[q.code]) }),
          error ? el("dd", { className: "q__error", text: error }) : null
        ]));
      });
      main.appendChild(el("section", { className: "review", "aria-labelledby": "rv-" + section.code }, [
        el("div", { className: "review__head" }, [
          el("h2", { id: "rv-" + section.code, text: vi(section.label) }),
          el("button", {
            type: "button", className: "btn btn--secondary btn--small", "data-edit": section.code,
            "aria-label": TEXT.edit + ": " + vi(section.label), text: TEXT.edit,
            onclick: function () { state.fromReview = true; showSection(section.code); }
          })
        ]),
        list
      ]));
    });
    var status = el("p", { className: "k-status", id: "k-status", role: "status", "aria-live": "polite" });
    main.appendChild(status);
    root.appendChild(nav([
      el("button", { type: "button", className: "btn btn--secondary", id: "k-back", text: TEXT.back, onclick: guarded(function () {
        var all = visibleSections();
        showSection(all[all.length - 1].code);
      }) }),
      el("button", { type: "button", className: "btn btn--primary", id: "k-submit", text: TEXT.submit, onclick: guarded(submit) })
    ]));
    if (!fromHistory) pushHistory();
    save();
    touch();
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
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
      submitButton.textContent = on ? TEXT.sending : TEXT.submit;
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
    if (status) status.textContent = TEXT.sending;
    S.send(config.submitUrl, state.payload, {
      appVersion: config.appVersion,
      unitName: def.kiosk.unit_name || config.unitName,
      onRetry: function () {
        if (status) {
          status.textContent = TEXT.retrying;
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
        showGeneral(result.message || TEXT.rejected);
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
      else if (e.item === "questionnaire") general.push(TEXT.outdated);
      else general.push(e.message);
    });
    showReview(true);
    showGeneral([TEXT.serverErrors].concat(general).join(" "));
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
    var count = el("p", { className: "thanks__count", text: TEXT.resetIn(left) });
    main.appendChild(el("section", { className: "thanks", "aria-live": "polite" }, [
      el("div", { className: "thanks__icon", "aria-hidden": "true", text: "✓" }),
      el("h1", { className: "thanks__title", id: "k-thanks", text: TEXT.thanksTitle }),
      el("p", { className: "thanks__text", id: "k-thanks-text", text: TEXT.thanksText }),
      count,
      el("button", { type: "button", className: "btn btn--secondary btn--big", text: TEXT.newForm, onclick: showWelcome })
    ]));
    timers.reset = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        showWelcome();
        return;
      }
      count.textContent = TEXT.resetIn(left);
    }, 1000);
    main.focus({ preventScroll: true });
  }

  function showInvalid() {
    screen = "invalid";
    state = null;
    clearTimer("idle");
    var main = frame({ kind: "invalid" });
    main.appendChild(el("section", { className: "thanks" }, [
      el("h1", { className: "thanks__title", text: TEXT.invalidTitle }),
      el("p", { className: "thanks__text", text: TEXT.invalidText })
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
        Q.sections.forEach(function (s) {
          s.questions.forEach(function (q) { questions[q.code] = { q: q, section: s }; });
        });
        root.removeAttribute("aria-busy");
        if (window.SipasStaff) {
          window.SipasStaff.setDefinition({ questionnaire: Q.id, version: Q.version, campaign: def.campaign.name });
        }
        if (!restore()) showWelcome();
      })
      .catch(function () {
        var note = root.querySelector(".k-loading");
        if (note) note.textContent = TEXT.loadFailed;
        setTimeout(function () { load((attempt || 0) + 1); }, Math.min(30000, 2000 * Math.pow(2, attempt || 0)));
      });
  }

  function showInvalidStandalone() {
    root.innerHTML = "";
    root.className = "kiosk-app kiosk-app--invalid";
    root.appendChild(el("main", { className: "k-main" }, [el("section", { className: "thanks" }, [
      el("h1", { className: "thanks__title", text: TEXT.invalidTitle }),
      el("p", { className: "thanks__text", text: TEXT.invalidText })
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
  window.SipasKiosk = {
    formState: function () { return state ? JSON.parse(JSON.stringify(state)) : null; },
    screen: function () { return screen; }
  };

  load(0);
})();
