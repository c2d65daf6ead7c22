/*
 * Sending filled forms to the server: the outbox first, then POST /api/v1/responses.
 *
 * SipasSubmit.send(url, payload, options) -> Promise<result> writes the form to the tablet's outbox
 * (IndexedDB, queue.js) and resolves {kind: "queued"} as soon as it is there: that is the durable
 * commit point on the tablet, and the respondent may be thanked. A sync loop then sends the outbox in
 * the order the forms were finished: on page load, when the browser comes back online, on a timer
 * with exponential back-off and jitter, and when staff tap "Gửi ngay". The payload (with its
 * instance_id) never changes after it is queued, so the server's idempotency on instance_id turns any
 * number of copies into one stored response.
 *
 * What each answer does to a queued form:
 *   201 created / 200 duplicate   removed from the outbox ("last successful sync" recorded)
 *   no answer, timeout, 408/425/429/5xx, or an answer that is not the survey server's JSON
 *                                 (a captive portal, a proxy page)   kept; the loop backs off
 *   401/403                       kept; the link was revoked or the campaign closed: staff are told
 *   409, 400 and other refusals   moved to "cần xử lý" (needs attention) with the server's message,
 *                                 shown to staff, never dropped
 *
 * One sync at a time per tablet, whatever the number of tabs: the Web Locks API when the browser has
 * it, otherwise a lease with an expiry in IndexedDB.
 *
 * Without IndexedDB (storage disabled) send() falls back to sending straight away and retrying until
 * the server answers, resolving as:
 *   {kind: "stored"} | {kind: "conflict"} | {kind: "invalid", errors} | {kind: "forbidden", message}
 *   | {kind: "rejected", status, message}
 */
(function (root) {
  "use strict";

  var Q = root.SipasQueue;
  var DIRECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  var TIMEOUT_MS = 20000;
  var BACKOFF_BASE_MS = 2000;
  var BACKOFF_MAX_MS = 5 * 60 * 1000;
  var IDLE_CHECK_MS = 30000; // forms queued by another tab, a lock holder that went away
  var BUSY_CHECK_MS = 10000;
  var LOCK_NAME = "sipas-kiosk-sync";
  var LEASE_MS = 30000;

  var TEXT = {
    network: "Không kết nối được máy chủ.",
    server: function (s) { return "Máy chủ tạm thời chưa nhận phiếu (mã " + s + ")."; },
    unexpected: function (s) {
      return "Câu trả lời không phải của máy chủ khảo sát (mã " + s + "): mạng có thể đang chặn hoặc " +
        "chuyển hướng (ví dụ trang đăng nhập Wi-Fi).";
    },
    forbidden: "Đường dẫn của máy trạm đã bị thu hồi hoặc đợt khảo sát đã kết thúc.",
    conflict: "Mã phiếu này đã được lưu trên máy chủ với nội dung khác.",
    invalid: "Máy chủ không nhận phiếu vì có câu trả lời chưa hợp lệ.",
    rejected: function (s) { return "Máy chủ từ chối phiếu (mã " + s + ")."; }
  };

  var tabId = newInstanceId();
  var sync = {
    running: null, // the promise of the round in progress in this tab
    again: false, // someone asked for a sync while one was running
    failures: 0, // consecutive failed rounds, for the back-off
    timer: null,
    nextAt: null,
    last: null // the last round's summary
  };
  var statusListeners = [];

  function wait(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function readJson(response) {
    return response.text().then(function (text) {
      try {
        var parsed = text ? JSON.parse(text) : null;
        return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : null;
      } catch (e) {
        return null;
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
      return readJson(response).then(function (json) {
        if (timer) clearTimeout(timer);
        return { status: response.status, body: json || {}, json: json !== null };
      });
    }).catch(function (error) {
      if (timer) clearTimeout(timer);
      return { status: 0, body: {}, json: false, error: error };
    });
  }

  function sameInstance(a, b) {
    var norm = function (v) { return String(v || "").toLowerCase().replace(/^uuid:/, "").replace(/-/g, ""); };
    return norm(a) !== "" && norm(a) === norm(b);
  }

  // --------------------------------------------------------------------------- direct sending

  function classifyDirect(answer) {
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

  function retryableDirect(answer) {
    return answer.status === 0 || answer.status === 429 || answer.status >= 500;
  }

  // Send now and retry until the server gives a final answer (used when there is no outbox).
  function sendDirect(url, payload, options) {
    options = options || {};
    var body = JSON.stringify(payload);
    var tries = 0;
    function loop() {
      tries += 1;
      return attempt(url, body).then(function (answer) {
        if (!retryableDirect(answer)) return classifyDirect(answer);
        var delay = DIRECT_DELAYS_MS[Math.min(tries - 1, DIRECT_DELAYS_MS.length - 1)];
        if (options.onRetry) options.onRetry(tries, delay, answer);
        return wait(delay).then(loop);
      });
    }
    return loop();
  }

  // ------------------------------------------------------------------------------ the outbox

  function queueAvailable() {
    return !!(Q && Q.available());
  }

  /*
   * Queue `payload` for `url`. options.appVersion and options.unitName are kept with it for staff;
   * options.onRetry is used only when there is no outbox and the form is sent straight away.
   */
  function send(url, payload, options) {
    options = options || {};
    if (!queueAvailable()) return sendDirect(url, payload, options);
    return Q.add({ url: url, payload: payload, app_version: options.appVersion, unit_name: options.unitName })
      .then(function (item) {
        schedule(0);
        return { kind: "queued", item: item };
      }, function () {
        // The browser refused to store it (storage full or disabled): send it now, as before.
        return sendDirect(url, payload, options);
      });
  }

  // What one answer means for a queued form: stored | retry | forbidden | attention.
  function outcome(answer, item) {
    var status = answer.status;
    var body = answer.body || {};
    var message = typeof body.message === "string" ? body.message : "";
    if (status === 0) return { kind: "retry", error: { kind: "network", status: 0, message: TEXT.network } };
    if (status === 200 || status === 201) {
      if ((body.status === "created" || body.status === "duplicate") && sameInstance(body.instance_id, item.instance_id)) {
        return { kind: "stored" };
      }
      return { kind: "retry", error: { kind: "unexpected", status: status, message: TEXT.unexpected(status) } };
    }
    if (status === 408 || status === 425 || status === 429 || status >= 500) {
      return { kind: "retry", error: { kind: "server", status: status, message: message || TEXT.server(status) } };
    }
    if (!answer.json) {
      return { kind: "retry", error: { kind: "unexpected", status: status, message: TEXT.unexpected(status) } };
    }
    if (status === 401 || status === 403) {
      return {
        kind: "forbidden",
        error: { kind: "forbidden", status: status, message: message || TEXT.forbidden, code: body.error || null }
      };
    }
    var errors = Array.isArray(body.errors) ? body.errors.map(function (e) {
      return { item: e.item || null, code: e.code || null, message: e.message || e.message_en || "" };
    }) : [];
    var kind = status === 409 ? "conflict" : (status === 400 ? "invalid" : "rejected");
    var fallback = kind === "conflict" ? TEXT.conflict : (kind === "invalid" ? TEXT.invalid : TEXT.rejected(status));
    return {
      kind: "attention",
      error: { kind: kind, status: status, message: message || fallback, errors: errors, code: body.error || null }
    };
  }

  function tokenOf(item) {
    return (item.payload && item.payload.kiosk_token) || "";
  }

  function setRevoked(token, on) {
    return Q.getMeta("revoked").then(function (map) {
      map = map || {};
      if (on === !!map[token]) return null;
      if (on) map[token] = new Date().toISOString();
      else delete map[token];
      return Q.setMeta("revoked", map);
    });
  }

  /*
   * One pass over the outbox, oldest first. `stillMine()` says whether this tab still holds the sync
   * (always true with Web Locks; the lease is renewed there). A network or server failure ends the
   * pass (the rest would fail the same way); a revoked link only holds back that link's forms.
   */
  function round(stillMine) {
    var summary = { sent: 0, attention: 0, forbidden: 0, held: 0, failed: null };
    var blocked = {};
    return Q.pending().then(function (items) {
      var index = 0;
      function next() {
        if (index >= items.length || summary.failed) return summary;
        var item = items[index];
        index += 1;
        if (blocked[tokenOf(item)]) {
          summary.held += 1;
          return next();
        }
        return stillMine().then(function (mine) {
          if (!mine) {
            summary.failed = { kind: "lease" };
            return summary;
          }
          return Q.get(item.seq).then(function (current) {
            // Sent by another tab meanwhile, cleared by staff, or moved: nothing to do.
            if (!current || current.state !== "pending") return next();
            return Q.noteAttempt(item.seq).then(function () {
              return attempt(current.url, JSON.stringify(current.payload));
            }).then(function (answer) {
              var result = outcome(answer, current);
              if (result.kind === "stored") {
                summary.sent += 1;
                return Q.markSent(item.seq).then(function () {
                  return setRevoked(tokenOf(current), false);
                }).then(next);
              }
              if (result.kind === "attention") {
                summary.attention += 1;
                return Q.toAttention(item.seq, result.error).then(next);
              }
              if (result.kind === "forbidden") {
                summary.forbidden += 1;
                blocked[tokenOf(current)] = true;
                return Q.noteError(item.seq, result.error).then(function () {
                  return setRevoked(tokenOf(current), true);
                }).then(next);
              }
              summary.failed = result.error;
              return Q.noteError(item.seq, result.error).then(function () { return summary; });
            });
          });
        });
      }
      return next();
    });
  }

  function withLock(work) {
    var locks = root.navigator && root.navigator.locks;
    if (locks && typeof locks.request === "function") {
      return locks.request(LOCK_NAME, { ifAvailable: true }, function (lock) {
        if (!lock) return { skipped: "busy" };
        return work(function () { return Promise.resolve(true); });
      });
    }
    return Q.acquireLease(tabId, LEASE_MS).then(function (got) {
      if (!got) return { skipped: "busy" };
      var renew = function () { return Q.acquireLease(tabId, LEASE_MS); };
      var release = function () { return Q.releaseLease(tabId).catch(function () { return null; }); };
      return work(renew).then(function (summary) {
        return release().then(function () { return summary; });
      }, function (error) {
        return release().then(function () { throw error; });
      });
    });
  }

  function backoff(failures) {
    var ms = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, Math.max(0, failures - 1)));
    return Math.round(ms / 2 + Math.random() * ms / 2); // "equal jitter": tablets do not retry in step
  }

  function schedule(ms) {
    if (sync.timer) clearTimeout(sync.timer);
    sync.nextAt = Date.now() + ms;
    sync.timer = setTimeout(function () {
      sync.timer = null;
      sync.nextAt = null;
      run("timer");
    }, ms);
  }

  function plan(summary) {
    if (summary.skipped === "offline") {
      schedule(IDLE_CHECK_MS); // the "online" event comes first, normally
    } else if (summary.skipped === "busy") {
      schedule(BUSY_CHECK_MS); // another tab sends; take over if it goes away
    } else if (summary.failed || summary.held) {
      sync.failures += 1;
      schedule(backoff(sync.failures));
    } else {
      sync.failures = 0;
      var moved = (summary.sent || 0) + (summary.attention || 0);
      Q.counts().then(function (c) {
        if (!sync.running) schedule(c.pending && moved ? 0 : IDLE_CHECK_MS);
      }, function () { schedule(IDLE_CHECK_MS); });
    }
  }

  // Run one sync round now (or join the one running in this tab and run again after it).
  function run(reason) {
    if (!queueAvailable()) return Promise.resolve({ skipped: "no-queue" });
    if (sync.running) {
      sync.again = true;
      return sync.running;
    }
    if (sync.timer) {
      clearTimeout(sync.timer);
      sync.timer = null;
      sync.nextAt = null;
    }
    var offline = root.navigator && root.navigator.onLine === false;
    var work = offline ? Promise.resolve({ skipped: "offline" }) : withLock(round);
    sync.running = work.then(null, function (error) {
      return { failed: { kind: "storage", message: String(error && error.message || error) } };
    }).then(function (summary) {
      summary.reason = reason;
      summary.at = new Date().toISOString();
      sync.running = null;
      if (!summary.skipped || summary.skipped === "offline") sync.last = summary;
      plan(summary);
      notify();
      if (sync.again) {
        sync.again = false;
        return run("again").then(function () { return summary; });
      }
      return summary;
    });
    notify();
    return sync.running;
  }

  // "Gửi ngay": forget the back-off and send now.
  function syncNow() {
    sync.failures = 0;
    return run("manual");
  }

  function status() {
    var online = !(root.navigator && root.navigator.onLine === false);
    var base = {
      queue: queueAvailable(),
      online: online,
      syncing: !!sync.running,
      nextAttemptAt: sync.nextAt,
      last: sync.last
    };
    if (!base.queue) return Promise.resolve(base);
    return Promise.all([Q.counts(), Q.getMeta("last_sync_at"), Q.getMeta("revoked")]).then(function (r) {
      base.pending = r[0].pending;
      base.attention = r[0].attention;
      base.lastSyncAt = r[1];
      base.revoked = r[2] || {};
      return base;
    }, function (error) {
      base.error = String(error && error.message || error);
      return base;
    });
  }

  function notify() {
    statusListeners.forEach(function (fn) {
      try {
        fn();
      } catch (e) {
        // a broken listener must not stop the sync
      }
    });
  }

  function onStatus(fn) {
    statusListeners.push(fn);
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

  if (queueAvailable()) {
    Q.onChange(notify);
    root.addEventListener("online", function () {
      sync.failures = 0;
      notify();
      run("online");
    });
    root.addEventListener("offline", notify);
    root.document.addEventListener("visibilitychange", function () {
      if (root.document.visibilityState === "visible" && !sync.running) run("visible");
    });
    setTimeout(function () { run("load"); }, 0);
  }

  root.SipasSubmit = {
    send: send,
    sendDirect: sendDirect,
    sync: run,
    syncNow: syncNow,
    status: status,
    onStatus: onStatus,
    queueAvailable: queueAvailable,
    newInstanceId: newInstanceId
  };
})(window);
