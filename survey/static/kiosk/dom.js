/*
 * The small DOM builder the kiosk's scripts share (staff.js, kiosk.js): el(tag, attrs, children).
 *
 * attrs: "text" sets the text, "className" the class, "on<event>" adds a listener, anything else is an
 * attribute (true = present, null/undefined/false = left out); children are nodes or strings.
 * Exposed as window.SipasDom.
 */
(function (root) {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  root.SipasDom = { el: el };
})(window);
