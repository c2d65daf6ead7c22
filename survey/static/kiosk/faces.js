/*
 * Satisfaction scales drawn as faces (the "faces" appearance, or a campaign's Likert scales as faces).
 *
 * Each scale choice has a level from 0 (least satisfied) to 1 (most satisfied), sent by the server with
 * the definition (questionnaires.face_levels); the face is drawn from that level alone, so a 3-, 4- or
 * 5-point scale gets faces interpolated between the two ends. The shape carries the meaning, not the
 * colour: the mouth bends from a frown (0) through a straight line (0.5) to a smile (1), and the brows
 * go from a worried slant (raised on the inside) to a raised arch. The fill goes from a light red to a light green
 * for those who see it, every fill keeping the dark features at 3:1 contrast or more. A choice off the
 * scale ("Không biết") is a plain button beside the faces, never a face.
 *
 * The faces are inline SVG built here (no image files to fetch, nothing from elsewhere): this file is
 * in the service worker's cache like the kiosk's other files. Exposed as window.SipasFaces:
 *   geometry(level) -> {mouth, brows: [left, right], eyes: [[x, y, r], …], fill}   (pure: tested)
 *   svg(level)      -> an <svg> element
 *   block(q, choices, levels, ctx) -> the question's <fieldset>, ctx = {el, text(label), optional,
 *                                     describedBy, hint, error, onPick(code)}
 */
(function (root) {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var INK = "#16202b"; // the features and the outline
  // Fills from the least (0) to the most satisfied (1), mixed in between.
  var PALETTE = [[0, "#f6b39a"], [0.25, "#fcd3a8"], [0.5, "#fbe89a"], [0.75, "#cfe8b4"], [1, "#a8dca0"]];

  function clamp(t) {
    t = Number(t);
    if (!(t >= 0)) return 0; // NaN too
    return t > 1 ? 1 : t;
  }

  function round(x) {
    return Math.round(x * 100) / 100;
  }

  function hex(rgb) {
    return "#" + rgb.map(function (c) {
      var s = Math.round(c).toString(16);
      return s.length < 2 ? "0" + s : s;
    }).join("");
  }

  function rgbOf(color) {
    return [1, 3, 5].map(function (i) { return parseInt(color.slice(i, i + 2), 16); });
  }

  function fill(t) {
    for (var i = 1; i < PALETTE.length; i += 1) {
      if (t <= PALETTE[i][0]) {
        var a = PALETTE[i - 1];
        var b = PALETTE[i];
        var f = (t - a[0]) / (b[0] - a[0]);
        var ca = rgbOf(a[1]);
        var cb = rgbOf(b[1]);
        return hex(ca.map(function (c, k) { return c + (cb[k] - c) * f; }));
      }
    }
    return PALETTE[PALETTE.length - 1][1];
  }

  // The face of one level, in a 100 × 100 box.
  function geometry(level) {
    var t = clamp(level);
    var s = 2 * t - 1; // -1 frown … 0 straight … 1 smile
    var corner = round(70 - 3 * s); // the mouth's corners rise as it smiles
    var control = round(70 + 24 * s); // the curve's control point: above the corners = a frown
    // Brows: a worried slant (the inner ends high) when unhappy, a raised arch when happy.
    var inner = round(22 + 3 * t);
    var outer = round(30 - 5 * t);
    var arch = round((inner + outer) / 2 - 4 * t);
    return {
      level: t,
      mouth: "M 30 " + corner + " Q 50 " + control + " 70 " + corner,
      brows: [
        "M 24 " + outer + " Q 33 " + arch + " 42 " + inner,
        "M 58 " + inner + " Q 67 " + arch + " 76 " + outer
      ],
      eyes: [[35, 42, 5.5], [65, 42, 5.5]],
      fill: fill(t),
      ink: INK
    };
  }

  function node(tag, attrs) {
    var n = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
    return n;
  }

  function svg(level) {
    var g = geometry(level);
    var pic = node("svg", {
      viewBox: "0 0 100 100", "class": "face__svg", "aria-hidden": "true", focusable: "false",
      "data-level": String(g.level)
    });
    pic.appendChild(node("circle", { cx: 50, cy: 50, r: 46, fill: g.fill, stroke: INK, "stroke-width": 3 }));
    g.eyes.forEach(function (e) { pic.appendChild(node("circle", { cx: e[0], cy: e[1], r: e[2], fill: INK })); });
    g.brows.forEach(function (d) {
      pic.appendChild(node("path", {
        d: d, fill: "none", stroke: INK, "stroke-width": 4, "stroke-linecap": "round", "class": "face__brow"
      }));
    });
    pic.appendChild(node("path", {
      d: g.mouth, fill: "none", stroke: INK, "stroke-width": 5, "stroke-linecap": "round", "class": "face__mouth"
    }));
    return pic;
  }

  // The question: a row of faces (scale choices, in the list's order) and plain buttons for the rest.
  function block(q, choices, levels, ctx) {
    var el = ctx.el;
    var box = el("fieldset", { className: "q q--faces", "data-code": q.code, "aria-describedby": ctx.describedBy }, [
      el("legend", { className: "q__label", id: "label-" + q.code }, [
        ctx.text(q.label), q.required ? null : el("span", { className: "q__optional", text: ctx.optional })
      ]),
      ctx.hint
    ]);
    var scale = choices.filter(function (c) { return Object.prototype.hasOwnProperty.call(levels, c.code); });
    var others = choices.filter(function (c) { return !Object.prototype.hasOwnProperty.call(levels, c.code); });
    var row = el("div", { className: "faces", "data-count": String(scale.length) });
    row.style.setProperty("--faces-columns", String(scale.length));
    function input(c, className) {
      var i = el("input", { type: "radio", name: q.code, value: c.code, id: "q-" + q.code + "-" + c.code, className: className });
      i.addEventListener("change", function () { if (i.checked) ctx.onPick(c.code); });
      return i;
    }
    scale.forEach(function (c) {
      var pic = el("span", { className: "face__pic", "aria-hidden": "true" }, [
        svg(levels[c.code]), el("span", { className: "face__check", text: "✓" })
      ]);
      row.appendChild(el("label", {
        className: "face", "for": "q-" + q.code + "-" + c.code, "data-value": c.code, "data-level": String(levels[c.code])
      }, [input(c, "face__input"), pic, el("span", { className: "face__text", text: ctx.text(c.label) })]));
    });
    box.appendChild(row);
    if (others.length) {
      var rest = el("div", { className: "choices choices--inline faces__others" });
      others.forEach(function (c) {
        rest.appendChild(el("label", { className: "choice", "for": "q-" + q.code + "-" + c.code, "data-value": c.code }, [
          input(c, "choice__input"),
          el("span", { className: "choice__mark", "aria-hidden": "true" }),
          el("span", { className: "choice__text", text: ctx.text(c.label) })
        ]));
      });
      box.appendChild(rest);
    }
    box.appendChild(ctx.error);
    return box;
  }

  root.SipasFaces = { geometry: geometry, svg: svg, block: block, palette: PALETTE, ink: INK };
})(typeof window !== "undefined" ? window : globalThis);
