/*
 * Sending one filled form to the server: POST /api/v1/responses, retried until the server answers.
 *
 * The payload (with its instance_id) is built once per submission by the caller and re-sent unchanged
 * on every retry, so the server's idempotency on instance_id turns any number of copies into one stored
 * response. Network failures, timeouts, 429 and 5xx answers are retried with a growing delay; every
 * other answer ends the attempt and is reported as one of:
 *
 *   {kind: "stored"}     201 created, or 200 duplicate (an earlier copy got through)
 *   {kind: "conflict"}   409: this instance id is already stored with other content
 *   {kind: "invalid", errors: [{item, code, message}]}   400: nothing stored, per-item messages
 *   {kind: "forbidden", message}   401/403: the link was revoked or the campaign closed
 *   {kind: "rejected", status, message}   any other refusal (e.g. 413)
 *
 * This module is the seam where an offline queue (IndexedDB + service worker) will go: callers only
 * see SipasSubmit.send(url, payload, options) -> Promise<result>.
 */
(function (root) {
  "use strict";

  var DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  var TIMEOUT_MS = 20000;

  function wait(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function readJson(response) {
    return response.text().then(function (text) {
      try {
        return text ? JSON.parse(text) : {};
      } catch (e) {
        return {};
      }
    });
  }

  function attempt(url, body) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body,
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (timer) clearTimeout(timer);
      return readJson(response).then(function (json) {
        return { status: response.status, body: json };
      });
    }, function (error) {
      if (timer) clearTimeout(timer);
      return { status: 0, error: error };
    });
  }

  function classify(answer) {
    var status = answer.status;
    var body = answer.body || {};
    if (status === 201 || status === 200) return { kind: "stored", status: status, body: body };
    if (status === 409) return { kind: "conflict", status: status, body: body };
    if (status === 400 && Array.isArray(body.errors)) {
      return { kind: "invalid", status: status, errors: body.errors, body: body };
    }
    if (status === 401 || status === 403) {
      return { kind: "forbidden", status: status, message: body.message || "", body: body };
    }
    return { kind: "rejected", status: status, message: body.message || "", body: body };
  }

  function retryable(answer) {
    return answer.status === 0 || answer.status === 429 || answer.status >= 500;
  }

  /*
   * Send `payload` to `url` until the server gives a final answer.
   * options.onRetry(attemptNumber, delayMs, answer) is called before each wait.
   */
  function send(url, payload, options) {
    options = options || {};
    var body = JSON.stringify(payload);
    var tries = 0;
    function loop() {
      tries += 1;
      return attempt(url, body).then(function (answer) {
        if (!retryable(answer)) return classify(answer);
        var delay = DELAYS_MS[Math.min(tries - 1, DELAYS_MS.length - 1)];
        if (options.onRetry) options.onRetry(tries, delay, answer);
        return wait(delay).then(loop);
      });
    }
    return loop();
  }

  // A random UUID (v4) for a new form; crypto.randomUUID needs a secure context, so fall back.
  function newInstanceId() {
    var c = root.crypto;
    if (c && typeof c.randomUUID === "function") {
      try {
        return c.randomUUID();
      } catch (e) {
        // not a secure context (plain http on the LAN): use getRandomValues below
      }
    }
    var bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") {
      c.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i += 1) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); });
    return hex.slice(0, 4).join("") + "-" + hex.slice(4, 6).join("") + "-" + hex.slice(6, 8).join("") +
      "-" + hex.slice(8, 10).join("") + "-" + hex.slice(10, 16).join("");
  }

  root.SipasSubmit = { send: send, newInstanceId: newInstanceId };
})(window);
