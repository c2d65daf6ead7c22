/*
 * Evaluator of the questionnaire expression language (relevant / required_if / constraint).
 *
 * It walks the JSON syntax tree produced by questionnaires.expressions.Expression.to_json() with the
 * semantics documented in questionnaires/expressions.py, so that the browser and the server agree on
 * which questions are shown, required and valid:
 *
 *   - an unanswered item is the empty string ''; a multiple-choice answer (an array) compares as its
 *     codes joined by spaces;
 *   - = and != compare numerically when both sides are numbers or numeric strings, else as text;
 *   - < <= > >= compare numerically and are false when either side is not a number;
 *   - arithmetic on a non-number gives NaN; false, 0, NaN, '' and [] are false.
 *
 * Values follow Python's: numbers are printed as Python prints floats (1.0 -> "1", 1e-05, inf),
 * "digits" are Unicode decimal digits as in Python's re and float(), and whitespace is str.strip()'s.
 *
 * Around the evaluator, the skip logic of questionnaires/applicability.py over the definition JSON of
 * survey/client.py, for the kiosk and the admin paper-entry form: respondentGroup, applicable (the
 * section's groups and relevant, then the question's) and dropInapplicable (the cascade, until nothing
 * changes); and questionnaires/runtime.py's calculate, settle (calculates and the cascade together)
 * and offeredChoices (choice filters), with prune, the kiosk's clearing of answers no longer offered.
 * tests/test_kiosk_expr.py holds them to agree with Python.
 * Exposed as window.SipasExpr (and module.exports under Node, for tests).
 */
(function (root) {
  "use strict";

  // First code point of every run of ten Unicode decimal digits (category Nd), as Python 3.11 knows them.
  var DIGIT_ZEROS = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6,
    0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0,
    0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10, 0x104a0, 0x10d30,
    0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0,
    0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec,
    0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0
  ];

  // Characters Python's str.isspace() accepts (what str.strip() removes).
  var PY_SPACE = "\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002" +
    "\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

  function pyStrip(s) {
    var chars = Array.from(s);
    var a = 0;
    var b = chars.length;
    while (a < b && PY_SPACE.indexOf(chars[a]) >= 0) a += 1;
    while (b > a && PY_SPACE.indexOf(chars[b - 1]) >= 0) b -= 1;
    return chars.slice(a, b).join("");
  }

  // The value (0-9) of a Unicode decimal digit, or -1.
  function digitValue(ch) {
    var cp = ch.codePointAt(0);
    for (var i = DIGIT_ZEROS.length - 1; i >= 0; i -= 1) {
      if (DIGIT_ZEROS[i] <= cp) {
        return cp - DIGIT_ZEROS[i] < 10 ? cp - DIGIT_ZEROS[i] : -1;
      }
    }
    return -1;
  }

  // Python's float() of text matching -?(\d+(\.\d*)?|\.\d+), or NaN when the text does not match.
  function parseNumber(text) {
    var chars = Array.from(text);
    var i = 0;
    var ascii = "";
    if (chars[0] === "-") {
      ascii = "-";
      i = 1;
    }
    var intDigits = 0;
    while (i < chars.length && digitValue(chars[i]) >= 0) {
      ascii += String(digitValue(chars[i]));
      intDigits += 1;
      i += 1;
    }
    var fracDigits = 0;
    if (i < chars.length && chars[i] === ".") {
      ascii += ".";
      i += 1;
      while (i < chars.length && digitValue(chars[i]) >= 0) {
        ascii += String(digitValue(chars[i]));
        fracDigits += 1;
        i += 1;
      }
      if (intDigits === 0 && fracDigits === 0) return NaN;
    } else if (intDigits === 0) {
      return NaN;
    }
    if (i !== chars.length) return NaN;
    return Number(ascii.charAt(ascii.length - 1) === "." ? ascii + "0" : ascii);
  }

  function isList(v) {
    return Array.isArray(v);
  }

  // Python's str() of a float: shortest round-trip digits, exponent below 1e-4 and from 1e16.
  function floatRepr(x) {
    if (Number.isNaN(x)) return "NaN";
    if (x === Infinity) return "inf";
    if (x === -Infinity) return "-inf";
    if (Number.isInteger(x)) return BigInt(x).toString();
    var parts = x.toExponential().split("e");
    var sign = "";
    var mantissa = parts[0];
    if (mantissa.charAt(0) === "-") {
      sign = "-";
      mantissa = mantissa.slice(1);
    }
    var digits = mantissa.replace(".", "");
    var exp = parseInt(parts[1], 10);
    if (exp >= -4 && exp < 16) {
      if (exp < 0) return sign + "0." + "0".repeat(-exp - 1) + digits;
      var intPart = digits.slice(0, exp + 1);
      while (intPart.length < exp + 1) intPart += "0";
      var frac = digits.slice(exp + 1);
      return sign + intPart + "." + (frac || "0");
    }
    var abs = Math.abs(exp);
    return sign + digits.charAt(0) + (digits.length > 1 ? "." + digits.slice(1) : "") +
      "e" + (exp < 0 ? "-" : "+") + (abs < 10 ? "0" : "") + abs;
  }

  // An answer as the language sees it: missing -> '', array -> space-joined codes.
  function norm(v) {
    if (v === null || v === undefined) return "";
    if (isList(v)) return v.map(listItemText).join(" ");
    return v;
  }

  function listItemText(v) {
    if (typeof v === "boolean") return v ? "True" : "False";
    if (v === null || v === undefined) return "None";
    return toText(v);
  }

  function toNumber(v) {
    v = norm(v);
    if (typeof v === "boolean") return v ? 1 : 0;
    if (typeof v === "number") return v;
    if (typeof v === "string") {
      var s = pyStrip(v);
      return s ? parseNumber(s) : NaN;
    }
    return NaN;
  }

  function toText(v) {
    v = norm(v);
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "number") return floatRepr(v);
    return String(v);
  }

  function truthy(v) {
    if (isList(v)) return v.length > 0;
    if (v === null || v === undefined) return false;
    if (typeof v === "boolean") return v;
    if (typeof v === "number") return v !== 0 && !Number.isNaN(v);
    return v !== "";
  }

  function codes(v) {
    if (v === null || v === undefined) return [];
    if (isList(v)) return v.map(toText);
    return toText(v).split(" ").filter(function (c) { return c !== ""; });
  }

  function lookup(answers, name) {
    if (answers && Object.prototype.hasOwnProperty.call(answers, name)) {
      var v = answers[name];
      return v === undefined ? null : v;
    }
    return null;
  }

  // The value of a syntax-tree node. `env` (optional) is {choice, now}: the row of the choice a choice
  // filter is tested on (column -> value, name = the code) and the clock of now()/today() (the text
  // of now(), or a Date; the device's clock when absent).
  function evaluate(node, answers, current, env) {
    return ev(node, {
      answers: answers,
      current: current === undefined ? null : current,
      choice: (env && env.choice) || {},
      now: env ? env.now : undefined
    });
  }

  function ev(node, ctx) {
    var kind = node[0];
    switch (kind) {
      case "ref":
        return lookup(ctx.answers, node[1]);
      case "cur":
        return ctx.current;
      case "col":
        var v = Object.prototype.hasOwnProperty.call(ctx.choice, node[1]) ? ctx.choice[node[1]] : null;
        return v === null || v === undefined ? "" : v;
      case "num":
      case "str":
        return node[1];
      case "neg":
        return -toNumber(ev(node[1], ctx));
      case "bin":
        return binary(node, ctx);
      case "call":
        return call(node[1], node[2], ctx);
      default:
        throw new Error("unknown expression node " + kind);
    }
  }

  function binary(node, ctx) {
    var op = node[1];
    if (op === "and") {
      return truthy(ev(node[2], ctx)) && truthy(ev(node[3], ctx));
    }
    if (op === "or") {
      return truthy(ev(node[2], ctx)) || truthy(ev(node[3], ctx));
    }
    var left = ev(node[2], ctx);
    var right = ev(node[3], ctx);
    var ln = toNumber(left);
    var rn = toNumber(right);
    if (op === "=" || op === "!=") {
      var same = !Number.isNaN(ln) && !Number.isNaN(rn) ? ln === rn : toText(left) === toText(right);
      return op === "=" ? same : !same;
    }
    if (op === "<" || op === "<=" || op === ">" || op === ">=") {
      if (Number.isNaN(ln) || Number.isNaN(rn)) return false;
      if (op === "<") return ln < rn;
      if (op === "<=") return ln <= rn;
      if (op === ">") return ln > rn;
      return ln >= rn;
    }
    if (op === "+") return ln + rn;
    if (op === "-") return ln - rn;
    if (op === "*") return ln * rn;
    if (op === "div") return rn === 0 ? NaN : ln / rn;
    if (op === "mod") return rn === 0 ? NaN : ln % rn; // JS % is C's fmod, like math.fmod
    throw new Error("unknown operator " + op);
  }

  function pad(n, width) {
    var s = String(n);
    while (s.length < width) s = "0" + s;
    return s;
  }

  // The text of now(): local time to the millisecond with its UTC offset, as format_now in Python.
  function formatNow(now) {
    if (typeof now === "string") return now;
    var d = now instanceof Date ? now : new Date();
    var offset = -d.getTimezoneOffset();
    var sign = offset < 0 ? "-" : "+";
    offset = Math.abs(offset);
    return pad(d.getFullYear(), 4) + "-" + pad(d.getMonth() + 1, 2) + "-" + pad(d.getDate(), 2) + "T" +
      pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" + pad(d.getSeconds(), 2) + "." +
      pad(d.getMilliseconds(), 3) + sign + pad(Math.floor(offset / 60), 2) + ":" + pad(offset % 60, 2);
  }

  // A position clamped to 0..size, truncated toward zero (NaN is 0).
  function index(v, size) {
    var n = toNumber(v);
    if (Number.isNaN(n)) return 0;
    return Math.trunc(Math.min(Math.max(n, 0), size));
  }

  function substr(text, start, end) {
    var chars = Array.from(toText(text)); // code points, as Python's str
    var lo = index(start, chars.length);
    var hi = end === undefined ? chars.length : index(end, chars.length);
    return lo < hi ? chars.slice(lo, hi).join("") : "";
  }

  function selectedAt(v, i) {
    var list = codes(v);
    var n = toNumber(i);
    if (Number.isNaN(n) || n < 0 || n >= list.length || !Number.isInteger(n)) return "";
    return list[n];
  }

  // Halves up, to `digits` decimals (negative: tens, hundreds...), as round() in Python.
  function round(v, digits) {
    var x = toNumber(v);
    var d = digits === undefined ? 0 : toNumber(digits);
    if (Number.isNaN(d)) return NaN;
    if (!Number.isFinite(x)) return x;
    d = Math.trunc(Math.max(Math.min(d, 15), -15));
    var scale;
    if (d >= 0) {
      if (Math.abs(x) >= 4503599627370496) return x; // 2^52: already whole
      scale = Math.pow(10, d);
      return Math.floor(x * scale + 0.5) / scale;
    }
    scale = Math.pow(10, -d);
    return Math.floor(x / scale + 0.5) * scale;
  }

  // min/max over any number of values: NaN when one of them is not a number.
  function extreme(vals, greater) {
    var best = NaN;
    for (var i = 0; i < vals.length; i += 1) {
      var x = toNumber(vals[i]);
      if (Number.isNaN(x)) return NaN;
      if (i === 0 || (greater ? x > best : x < best)) best = x;
    }
    return best;
  }

  // \d, \w and \b are ASCII, as Python's re.ASCII; an invalid pattern matches nothing.
  function regex(text, pattern) {
    var re;
    try {
      re = new RegExp(toText(pattern), "u");
    } catch (e) {
      return false;
    }
    return re.test(toText(text));
  }

  function call(name, args, ctx) {
    if (name === "if") {
      var cond = truthy(ev(args[0], ctx));
      return ev(cond ? args[1] : args[2], ctx);
    }
    if (name === "now") return formatNow(ctx.now);
    if (name === "today") return formatNow(ctx.now).slice(0, 10);
    var vals = args.map(function (a) { return ev(a, ctx); });
    switch (name) {
      case "not":
        return !truthy(vals[0]);
      case "selected":
        return codes(vals[0]).indexOf(toText(vals[1])) >= 0;
      case "count-selected":
        return codes(vals[0]).length;
      case "selected-at":
        return selectedAt(vals[0], vals[1]);
      case "string-length":
        return Array.from(toText(vals[0])).length; // code points, as Python's len()
      case "number":
        return toNumber(vals[0]);
      case "string":
        return toText(vals[0]);
      case "boolean":
        return truthy(vals[0]);
      case "true":
        return true;
      case "false":
        return false;
      case "coalesce":
        for (var i = 0; i < vals.length; i += 1) {
          if (toText(vals[i]) !== "") return vals[i];
        }
        return "";
      case "concat":
        return vals.map(toText).join("");
      case "contains":
        return toText(vals[0]).indexOf(toText(vals[1])) >= 0;
      case "starts-with":
        return toText(vals[0]).startsWith(toText(vals[1]));
      case "ends-with":
        return toText(vals[0]).endsWith(toText(vals[1]));
      case "substr":
        return substr(vals[0], vals[1], vals[2]);
      case "regex":
        return regex(vals[0], vals[1]);
      case "round":
        return round(vals[0], vals[1]);
      case "int":
        var t = toNumber(vals[0]);
        return Number.isFinite(t) ? Math.trunc(t) : t;
      case "floor":
        return Math.floor(toNumber(vals[0]));
      case "ceiling":
        return Math.ceil(toNumber(vals[0]));
      case "abs":
        return Math.abs(toNumber(vals[0]));
      case "min":
        return extreme(vals, false);
      case "max":
        return extreme(vals, true);
      case "once":
        return vals[0];
      default:
        throw new Error("unknown function " + name);
    }
  }

  // Whether an expression tree is true for these answers; a missing expression is true.
  function holds(tree, answers, current, env) {
    return tree ? truthy(evaluate(tree, answers, current, env)) : true;
  }

  // ------------------------------------------------------- skip logic (questionnaires.applicability)

  function has(answers, code) {
    return Object.prototype.hasOwnProperty.call(answers, code);
  }

  function answerable(question) {
    return ["note", "start", "end", "today", "calculate"].indexOf(question.type) < 0;
  }

  function among(group, groups) {
    return !groups || !groups.length || groups.indexOf(group) >= 0;
  }

  // The question whose answer is the respondent group (role: group), or null.
  function groupQuestion(definition) {
    for (var i = 0; i < definition.sections.length; i += 1) {
      var questions = definition.sections[i].questions;
      for (var j = 0; j < questions.length; j += 1) {
        if (questions[j].role === "group") return questions[j];
      }
    }
    return null;
  }

  // The respondent group: `group` if given, else the role: group question's answer, else the only group.
  function respondentGroup(definition, answers, group) {
    if (group) return group;
    var item = groupQuestion(definition);
    if (item && has(answers, item.code) && typeof answers[item.code] === "string") return answers[item.code];
    return definition.groups.length === 1 ? definition.groups[0].code : null;
  }

  function sectionApplicable(section, answers, group) {
    return among(group, section.groups) && holds(section.relevant, answers);
  }

  function applicable(section, question, answers, group) {
    return sectionApplicable(section, answers, group) && among(group, question.groups) &&
      holds(question.relevant, answers);
  }

  // {kept, dropped}: the answers without those to questions not asked, until nothing changes; the
  // group is read again from the kept answers on every pass (`group`, when given, wins).
  function dropInapplicable(definition, answers, group) {
    var kept = {};
    Object.keys(answers).forEach(function (code) { kept[code] = answers[code]; });
    for (;;) { // each pass drops at least one answer, or stops
      var respondent = respondentGroup(definition, kept, group);
      var dropping = [];
      definition.sections.forEach(function (s) {
        s.questions.forEach(function (q) {
          if (answerable(q) && has(kept, q.code) && !applicable(s, q, kept, respondent)) dropping.push(q.code);
        });
      });
      if (!dropping.length) break;
      dropping.forEach(function (code) { delete kept[code]; });
    }
    var dropped = [];
    definition.sections.forEach(function (s) {
      s.questions.forEach(function (q) {
        if (has(answers, q.code) && !has(kept, q.code)) dropped.push(q.code);
      });
    });
    return { kept: kept, dropped: dropped };
  }

  // ------------------------------------------- calculates, choice filters (questionnaires.runtime)

  function isComputed(question) {
    return question.type === "calculate";
  }

  // The stored form of a calculation's result: its text, or null for NaN, infinities and ''.
  function storedValue(v) {
    if (typeof v === "number" && !Number.isFinite(v)) return null;
    var text = toText(v);
    return text === "" ? null : text;
  }

  function computedCodes(definition) {
    var out = {};
    definition.sections.forEach(function (s) {
      s.questions.forEach(function (q) { if (isComputed(q)) out[q.code] = true; });
    });
    return out;
  }

  function withoutComputed(answers, computed) {
    var out = {};
    Object.keys(answers).forEach(function (code) { if (!computed[code]) out[code] = answers[code]; });
    return out;
  }

  // The answers with every calculate asked computed, in document order (env: {now}).
  function calculate(definition, answers, group, env) {
    var out = withoutComputed(answers, computedCodes(definition));
    definition.sections.forEach(function (s) {
      s.questions.forEach(function (q) {
        if (!isComputed(q) || !q.calculation) return;
        if (!applicable(s, q, out, respondentGroup(definition, out, group))) return;
        var value = storedValue(evaluate(q.calculation, out, null, env));
        if (value !== null) out[q.code] = value;
      });
    });
    return out;
  }

  // {kept, dropped}: calculates computed and answers not asked dropped, until nothing changes.
  function settle(definition, answers, group, env) {
    var computed = computedCodes(definition);
    var current = withoutComputed(answers, {});
    var kept;
    for (;;) { // each round drops an answer, or stops
      var result = dropInapplicable(definition, calculate(definition, current, group, env), group);
      kept = result.kept;
      if (!result.dropped.length) break;
      current = withoutComputed(kept, computed);
    }
    var dropped = [];
    definition.sections.forEach(function (s) {
      s.questions.forEach(function (q) {
        if (has(answers, q.code) && !has(kept, q.code) && !computed[q.code]) dropped.push(q.code);
      });
    });
    return { kept: kept, dropped: dropped };
  }

  // What a choice filter reads of a choice: its extra columns, and name = its code.
  function choiceRow(choice) {
    var row = {};
    if (choice.extra) Object.keys(choice.extra).forEach(function (k) { row[k] = choice.extra[k]; });
    row.name = choice.code;
    return row;
  }

  // The choices of `question` offered with these answers (all of them without a choice filter).
  function offeredChoices(definition, question, answers) {
    var list = (question.choices && definition.choice_lists[question.choices]) || [];
    if (!question.choice_filter) return list;
    return list.filter(function (c) {
      return holds(question.choice_filter, answers, null, { choice: choiceRow(c) });
    });
  }

  // The kiosk's settle: as settle, and an answer a choice filter no longer offers is cleared (the
  // codes still offered of a multiple choice are kept), until nothing changes. {kept, dropped}.
  function prune(definition, answers, group, env) {
    var current = withoutComputed(answers, {});
    var result;
    for (;;) {
      result = settle(definition, current, group, env);
      var changed = false;
      var kept = result.kept;
      definition.sections.forEach(function (s) {
        s.questions.forEach(function (q) {
          if (!q.choice_filter || !has(kept, q.code)) return;
          var offered = offeredChoices(definition, q, kept).map(function (c) { return c.code; });
          var value = kept[q.code];
          if (Array.isArray(value)) {
            var still = value.filter(function (code) { return offered.indexOf(String(code)) >= 0; });
            if (still.length !== value.length) {
              changed = true;
              if (still.length) kept[q.code] = still;
              else delete kept[q.code];
            }
          } else if (offered.indexOf(toText(value)) < 0) {
            changed = true;
            delete kept[q.code];
          }
        });
      });
      if (!changed) break;
      current = kept;
    }
    var dropped = [];
    var computed = computedCodes(definition);
    definition.sections.forEach(function (s) {
      s.questions.forEach(function (q) {
        if (has(answers, q.code) && !has(result.kept, q.code) && !computed[q.code]) dropped.push(q.code);
      });
    });
    return { kept: result.kept, dropped: dropped };
  }

  var api = {
    evaluate: evaluate,
    truthy: truthy,
    holds: holds,
    toNumber: toNumber,
    toText: toText,
    answerable: answerable,
    respondentGroup: respondentGroup,
    sectionApplicable: sectionApplicable,
    applicable: applicable,
    dropInapplicable: dropInapplicable,
    isComputed: isComputed,
    storedValue: storedValue,
    formatNow: formatNow,
    calculate: calculate,
    settle: settle,
    choiceRow: choiceRow,
    offeredChoices: offeredChoices,
    prune: prune
  };

  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    root.SipasExpr = api;
  }
})(typeof window !== "undefined" ? window : this);
