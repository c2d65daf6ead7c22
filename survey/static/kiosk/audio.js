/*
 * Spoken prompts on the kiosk: a big "Nghe" (listen) button on each question (and on each choice, page
 * and screen message that has a clip) plays the clip recorded for the current language; "Tự đọc"
 * (auto-read, a campaign setting that the respondent can switch on or off on the welcome screen) reads
 * each question as it appears, then the next one once it is answered.
 *
 * Clips are the approved recordings the definition lists (def.audio.clips[language][prompt key]); their
 * addresses hold their hash, the service worker keeps them (sw.js), so the kiosk speaks offline. They
 * are played from their bytes (a blob), never by streaming, so a cached copy always plays whole.
 * Where the current language has no clip, the tablet's own voice (speechSynthesis) reads the text only
 * when the campaign allows it, and only in Vietnamese (def.audio.speech_synthesis == ["vi"]).
 *
 * kiosk.js calls: init(def) once loaded; stop() when a screen is drawn; welcome(node, text),
 * section(node, section) and message(node, key, text) after drawing those screens.
 */
(function () {
  "use strict";

  var dom = window.SipasDom;
  var el = dom && dom.el;
  var config = { clips: {}, autoplay: false, speech_synthesis: [] };
  var Q = null;
  var autoRead = false;
  var player = null;
  var blobs = {}; // clip address -> object URL of its bytes
  var queue = [];
  var playing = null; // the button whose prompt is playing
  var generation = 0; // bumps on stop(), so that a late fetch does not play over a newer screen

  var TEXT = {
    listen: "Nghe",
    listenQuestion: "Nghe câu hỏi",
    listenChoice: "Nghe lựa chọn",
    autoRead: "Tự đọc câu hỏi",
    autoReadHint: "Máy đọc to từng câu hỏi khi hiện ra."
  };

  // The language the respondent reads (and hears): the kiosk's choice when it has one, else Vietnamese.
  function language() {
    var k = window.SipasKiosk;
    var lang = k && typeof k.language === "function" ? k.language() : null;
    return lang || "vi";
  }

  function clipUrl(key) {
    var byLang = config.clips[language()];
    return (byLang && byLang[key]) || null;
  }

  function canSpeak() {
    var lang = language();
    return lang === "vi" && config.speech_synthesis.indexOf(lang) >= 0 &&
      typeof window.speechSynthesis === "object" && typeof window.SpeechSynthesisUtterance === "function";
  }

  function hasVoice(key, text) {
    return !!clipUrl(key) || (!!text && canSpeak());
  }

  function labelText(label) {
    if (!label) return "";
    return label[language()] || (language() === "vi" ? label.vi : "") || "";
  }

  function ensurePlayer() {
    if (player) return player;
    player = document.createElement("audio");
    player.id = "k-audio-player";
    player.preload = "auto";
    player.hidden = true;
    player.addEventListener("ended", next);
    player.addEventListener("error", next);
    document.body.appendChild(player);
    return player;
  }

  function mark(button) {
    if (playing) playing.classList.remove("is-playing");
    playing = button || null;
    if (playing) playing.classList.add("is-playing");
  }

  function stop() {
    generation += 1;
    queue = [];
    if (player) player.pause();
    if (canSpeak()) window.speechSynthesis.cancel();
    mark(null);
  }

  function bytesOf(url) {
    if (blobs[url]) return Promise.resolve(blobs[url]);
    return fetch(url, { credentials: "omit" }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.blob();
    }).then(function (blob) {
      blobs[url] = URL.createObjectURL(blob);
      return blobs[url];
    });
  }

  // Play one prompt: its clip, else (Vietnamese, when allowed) the tablet's voice; then the queue.
  function say(item) {
    var mine = generation;
    mark(item.button);
    var url = clipUrl(item.key);
    if (url) {
      var audio = ensurePlayer();
      return bytesOf(url).then(function (src) {
        if (mine !== generation) return;
        audio.src = src;
        audio.currentTime = 0;
        var started = audio.play();
        if (started && started.catch) started.catch(function () { if (mine === generation) next(); });
      }, function () {
        if (mine === generation) next();
      });
    }
    if (item.text && canSpeak()) {
      var utterance = new window.SpeechSynthesisUtterance(item.text);
      utterance.lang = "vi-VN";
      utterance.onend = function () { if (mine === generation) next(); };
      utterance.onerror = utterance.onend;
      window.speechSynthesis.speak(utterance);
      return Promise.resolve();
    }
    next();
    return Promise.resolve();
  }

  function next() {
    mark(null);
    var item = queue.shift();
    if (item) say(item);
  }

  function play(items) {
    stop();
    queue = items.filter(function (i) { return hasVoice(i.key, i.text); });
    next();
  }

  // A loudspeaker drawn here (an emoji may be missing from a tablet's fonts).
  function speakerIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "k-listen__icon");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z");
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  function button(key, text, title, extraClass) {
    var b = el("button", {
      type: "button", className: "k-listen" + (extraClass ? " " + extraClass : ""),
      "data-listen": key, "aria-label": title, title: title
    }, [speakerIcon(), " " + TEXT.listen]);
    b.addEventListener("click", function (event) {
      event.preventDefault(); // inside a choice's label: listening is not answering
      event.stopPropagation();
      if (playing === b) {
        stop();
        return;
      }
      play([{ key: key, text: text, button: b }]);
    });
    return b;
  }

  // ------------------------------------------------------------------------------- questions

  function questionOf(code) {
    for (var i = 0; i < Q.sections.length; i += 1) {
      var qs = Q.sections[i].questions;
      for (var j = 0; j < qs.length; j += 1) if (qs[j].code === code) return qs[j];
    }
    return null;
  }

  function choiceItems(q, node) {
    if (!q.choices || !Q.choice_lists[q.choices] || node.classList.contains("likert__row")) return [];
    return Q.choice_lists[q.choices].map(function (c) {
      var label = node.querySelector('[data-value="' + (window.CSS && CSS.escape ? CSS.escape(c.code) : c.code) + '"]');
      if (!label || label.hidden) return null;
      return { key: "c:" + q.choices + ":" + c.code, text: labelText(c.label), button: label.querySelector(".k-listen") };
    }).filter(Boolean);
  }

  function questionItems(node) {
    var q = questionOf(node.getAttribute("data-code"));
    if (!q) return [];
    var text = labelText(q.label);
    return [{ key: "q:" + q.code, text: text, button: node.querySelector(".k-listen--question") }]
      .concat(choiceItems(q, node));
  }

  function decorateQuestion(node) {
    var q = questionOf(node.getAttribute("data-code"));
    if (!q || node.querySelector(".k-listen--question")) return;
    var text = labelText(q.label);
    if (hasVoice("q:" + q.code, text)) {
      var b = button("q:" + q.code, text, TEXT.listenQuestion, "k-listen--question");
      var legend = node.querySelector("legend, .q__label, .note");
      if (legend && legend.parentNode === node) node.insertBefore(b, legend.nextSibling);
      else if (legend) legend.parentNode.insertBefore(b, legend.nextSibling);
      else node.insertBefore(b, node.firstChild);
    }
    if (!q.choices || !Q.choice_lists[q.choices]) return;
    Q.choice_lists[q.choices].forEach(function (c) {
      var key = "c:" + q.choices + ":" + c.code;
      if (!clipUrl(key)) return; // a choice gets a button only where a clip was recorded for it
      Array.prototype.forEach.call(node.querySelectorAll("label[data-value]"), function (label) {
        if (label.getAttribute("data-value") === c.code && !label.querySelector(".k-listen")) {
          label.appendChild(button(key, labelText(c.label), TEXT.listenChoice + ": " + labelText(c.label), "k-listen--choice"));
        }
      });
    });
  }

  // A Likert grid shares one list: its column heads carry the choices' buttons.
  function decorateGrid(grid) {
    var row = grid.querySelector(".likert__row[data-code]");
    var q = row && questionOf(row.getAttribute("data-code"));
    if (!q || !Q.choice_lists[q.choices]) return;
    var cols = grid.querySelectorAll(".likert__col");
    Q.choice_lists[q.choices].forEach(function (c, i) {
      var key = "c:" + q.choices + ":" + c.code;
      if (cols[i] && clipUrl(key) && !cols[i].querySelector(".k-listen")) {
        cols[i].appendChild(button(key, labelText(c.label), TEXT.listenChoice + ": " + labelText(c.label), "k-listen--choice"));
      }
    });
    grid.querySelector(".likert__head").removeAttribute("aria-hidden");
  }

  function visible(node) {
    return !node.hidden && node.offsetParent !== null;
  }

  function answered(node) {
    return !!node.querySelector("input:checked") ||
      Array.prototype.some.call(node.querySelectorAll("input[type=text], input[type=number], input[type=date], textarea"),
        function (i) { return i.value !== ""; });
  }

  // After an answer, auto-read goes on with the next visible question of the page not yet answered.
  function readNextAfter(node, container) {
    var nodes = Array.prototype.slice.call(container.querySelectorAll(".q[data-code]"));
    var start = nodes.indexOf(node);
    for (var i = start + 1; i < nodes.length; i += 1) {
      if (visible(nodes[i]) && !answered(nodes[i]) && !nodes[i].classList.contains("q--note")) {
        play(questionItems(nodes[i]));
        return;
      }
    }
  }

  // ------------------------------------------------------------------------------- screens

  function welcome(node, text) {
    if (!node || !Q) return;
    autoRead = !!config.autoplay; // every respondent starts from the campaign's setting
    var any = hasAnyVoice();
    if (!any) return;
    // Beside "Bắt đầu": the welcome read aloud, and the switch for auto-read.
    var box = el("div", { className: "welcome__audio" });
    var start = node.querySelector("#k-start");
    node.insertBefore(box, start);
    if (hasVoice("m:welcome", text)) box.appendChild(button("m:welcome", text, TEXT.listen, "k-listen--message"));
    var input = el("input", { type: "checkbox", id: "k-autoread", className: "k-autoread__input" });
    input.checked = autoRead;
    input.addEventListener("change", function () {
      autoRead = input.checked;
      if (!autoRead) stop();
    });
    box.appendChild(el("label", { className: "k-autoread", "for": "k-autoread" }, [
      input, el("span", { className: "k-autoread__text", text: TEXT.autoRead }),
      el("span", { className: "k-autoread__hint", text: TEXT.autoReadHint })
    ]));
    if (autoRead) play([{ key: "m:welcome", text: text, button: box.querySelector(".k-listen--message") }]);
  }

  function hasAnyVoice() {
    var byLang = config.clips[language()];
    return (byLang && Object.keys(byLang).length > 0) || canSpeak();
  }

  function section(container, s) {
    if (!container || !Q) return;
    var title = container.querySelector(".k-section__title");
    var text = [labelText(s.label), labelText(s.intro)].filter(Boolean).join(". ");
    if (title && clipUrl("s:" + s.code)) {
      title.parentNode.insertBefore(button("s:" + s.code, text, TEXT.listen, "k-listen--section"), title.nextSibling);
    }
    Array.prototype.forEach.call(container.querySelectorAll(".q[data-code]"), decorateQuestion);
    Array.prototype.forEach.call(container.querySelectorAll(".likert"), decorateGrid);
    container.addEventListener("change", function (event) {
      if (!autoRead) return;
      var node = event.target && event.target.closest && event.target.closest(".q[data-code]");
      if (node && (event.target.type === "radio" || event.target.type === "checkbox")) readNextAfter(node, container);
    });
    if (!autoRead) return;
    var items = [];
    if (clipUrl("s:" + s.code)) items.push({ key: "s:" + s.code, text: text, button: container.querySelector(".k-listen--section") });
    var first = Array.prototype.filter.call(container.querySelectorAll(".q[data-code]"), function (n) {
      return visible(n) && !answered(n);
    })[0];
    if (first) items = items.concat(questionItems(first));
    play(items);
  }

  function message(node, key, text) {
    if (!node || !Q) return;
    var fullKey = "m:" + key;
    if (!hasVoice(fullKey, text)) return;
    var b = button(fullKey, text, TEXT.listen, "k-listen--message");
    node.insertBefore(b, node.firstChild);
    if (autoRead) play([{ key: fullKey, text: text, button: b }]);
  }

  function init(def) {
    var a = (def && def.audio) || {};
    config = {
      clips: a.clips || {},
      autoplay: !!a.autoplay,
      speech_synthesis: Array.isArray(a.speech_synthesis) ? a.speech_synthesis : []
    };
    Q = def.questionnaire;
    autoRead = config.autoplay;
  }

  window.SipasAudio = {
    init: init,
    stop: stop,
    welcome: welcome,
    section: section,
    message: message,
    // For the tests and the staff: what is playing, and whether auto-read is on.
    state: function () {
      return { autoRead: autoRead, playing: playing ? playing.getAttribute("data-listen") : null, language: language() };
    }
  };
})();
