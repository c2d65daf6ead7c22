/*
 * The kiosk's languages: the one the respondent chose, the fixed texts in it, and the questionnaire's
 * labels in it, with Vietnamese wherever a text is missing, marked as Vietnamese.
 *
 * The definition JSON brings `languages` ([{code, name, name_lang}], Vietnamese first) and `texts`
 * ({lang: {key: text}}, from survey/kiosk_texts.json). Nothing is translated here: a text missing in
 * the chosen language is the Vietnamese one, given `lang="vi"` (screen readers read it as Vietnamese)
 * and, for the questionnaire's own texts, a small "VI" badge the respondent sees.
 *
 * Exposed as window.SipasI18n:
 *   setup(def)            the definition's languages and texts; back to Vietnamese
 *   lang()                the language chosen (a BCP-47 tag); the kiosk's state.lang follows it
 *   setLang(code)         choose a language offered (anything else is ignored); returns the one in use
 *   languages()           the languages offered
 *   t(key, params)        a fixed text, {n}-style parameters filled in, Vietnamese when missing
 *   chrome(key, params)   the same as {text, lang}
 *   label(obj)            a questionnaire label as {text, lang, fallback}
 *   labelNodes(obj)       [text, "VI" badge or null] for el(); langOf(obj) the lang attribute it needs
 *   chromeLang()          the language the fixed texts are in (the chosen one, or vi when it has none)
 */
(function (root) {
  "use strict";

  var texts = { vi: {} };
  var offered = [{ code: "vi", name: "Tiếng Việt", name_lang: "vi" }];
  var current = "vi";

  function setup(def) {
    texts = (def && def.texts) || { vi: {} };
    if (!texts.vi) texts.vi = {};
    offered = (def && def.languages && def.languages.length) ? def.languages : offered;
    return setLang("vi");
  }

  function isOffered(code) {
    return offered.some(function (l) { return l.code === code; });
  }

  function setLang(code) {
    current = isOffered(code) ? code : "vi";
    if (document && document.documentElement) document.documentElement.lang = current;
    return current;
  }

  function fill(text, params) {
    if (!params) return text;
    return String(text).replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : all;
    });
  }

  function chrome(key, params) {
    var own = texts[current] && texts[current][key];
    if (own) return { text: fill(own, params), lang: current };
    var vi = texts.vi[key];
    return { text: fill(vi === undefined ? key : vi, params), lang: "vi" };
  }

  function t(key, params) {
    return chrome(key, params).text;
  }

  // A questionnaire label ({vi, en, hre, …}) in the chosen language, else in Vietnamese.
  function label(obj) {
    if (!obj) return { text: "", lang: current, fallback: false };
    if (typeof obj === "string") return { text: obj, lang: "vi", fallback: current !== "vi" };
    if (obj[current]) return { text: obj[current], lang: current, fallback: false };
    return { text: obj.vi || "", lang: "vi", fallback: current !== "vi" };
  }

  function badge() {
    var node = document.createElement("span");
    node.className = "k-lang-badge";
    node.setAttribute("lang", current);
    node.setAttribute("title", t("fallbackNote"));
    node.setAttribute("aria-hidden", "true");
    node.textContent = "VI";
    return node;
  }

  // The children for an element showing a label: its text, and the "VI" badge when it fell back.
  function labelNodes(obj) {
    var l = label(obj);
    return [l.text, l.fallback && l.text ? badge() : null];
  }

  // The lang attribute of an element showing this label: the language of the text shown.
  function langOf(obj) {
    return label(obj).lang;
  }

  // The language the fixed texts are shown in: the chosen one when its catalogue has texts (a
  // catalogue is complete or empty), else Vietnamese. With a key: the language of that one text.
  function chromeLang(key) {
    if (key) return chrome(key).lang;
    var own = texts[current];
    return own && Object.keys(own).length ? current : "vi";
  }

  root.SipasI18n = {
    setup: setup,
    lang: function () { return current; },
    setLang: setLang,
    languages: function () { return offered.slice(); },
    t: t,
    chrome: chrome,
    chromeLang: chromeLang,
    label: label,
    labelNodes: labelNodes,
    langOf: langOf,
    badge: badge
  };
})(window);
