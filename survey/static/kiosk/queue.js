/*
 * The tablet's outbox: every filled form is written here (IndexedDB) before anything is sent.
 *
 * Database "sipas-kiosk", version 1:
 *   outbox  keyPath "seq" (auto-increment: the order forms were finished), unique index "instance_id".
 *           {seq, instance_id, url, payload, questionnaire, version, app_version, unit_name,
 *            queued_at, attempts, last_attempt_at, last_error: {kind, status, message, errors, at},
 *            state: "pending" | "attention"}
 *           "pending": waiting to be sent; "attention" (cần xử lý): the server refused it (400/409/…),
 *           kept for staff, never dropped silently.
 *   meta    keyPath "key": last_sync_at, sync_lease {owner, expires}, revoked {<token>: iso time}.
 *
 * Every write is one IndexedDB transaction, so a form is either entirely in the outbox or not at
 * all, whatever happens to the tab. Other tabs hear about changes on a BroadcastChannel.
 */
(function (root) {
  "use strict";

  var DB_NAME = "sipas-kiosk";
  var DB_VERSION = 1;
  var OUTBOX = "outbox";
  var META = "meta";
  var CHANNEL = "sipas-kiosk-queue";

  var opening = null;
  var listeners = [];
  var channel = null;
  try {
    channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  } catch (e) {
    channel = null;
  }
  if (channel) {
    channel.onmessage = function () { fire(false); };
  }

  function fire(broadcast) {
    listeners.forEach(function (fn) {
      try {
        fn();
      } catch (e) {
        // one broken listener must not stop the others
      }
    });
    if (broadcast && channel) {
      try {
        channel.postMessage({ type: "changed", at: Date.now() });
      } catch (e) {
        // the channel is closing with the page
      }
    }
  }

  function available() {
    try {
      return typeof root.indexedDB !== "undefined" && root.indexedDB !== null;
    } catch (e) {
      return false; // some browsers throw on access when storage is disabled
    }
  }

  function open() {
    if (opening) return opening;
    opening = new Promise(function (resolve, reject) {
      if (!available()) {
        reject(new Error("IndexedDB is not available"));
        return;
      }
      var request;
      try {
        request = root.indexedDB.open(DB_NAME, DB_VERSION);
      } catch (e) {
        reject(e);
        return;
      }
      request.onupgradeneeded = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains(OUTBOX)) {
          var store = db.createObjectStore(OUTBOX, { keyPath: "seq", autoIncrement: true });
          store.createIndex("instance_id", "instance_id", { unique: true });
        }
        if (!db.objectStoreNames.contains(META)) db.createObjectStore(META, { keyPath: "key" });
      };
      request.onsuccess = function () {
        var db = request.result;
        // A newer page version wants to upgrade the schema: let it, and reopen next time.
        db.onversionchange = function () {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      request.onerror = function () { reject(request.error || new Error("IndexedDB open failed")); };
      request.onblocked = function () { reject(new Error("IndexedDB open blocked by another tab")); };
    });
    opening.catch(function () { opening = null; });
    return opening;
  }

  /*
   * Run `work(stores, tx)` in one transaction; resolve with its result once the transaction commits.
   * `strict`: the commit is on disk before we hear of it (Chrome otherwise reports a commit that the
   * OS may still lose if the tablet's battery dies the next second).
   */
  function run(mode, names, work, strict) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx;
        try {
          tx = strict ? db.transaction(names, mode, { durability: "strict" }) : db.transaction(names, mode);
        } catch (e) {
          reject(e);
          return;
        }
        var stores = {};
        names.forEach(function (n) { stores[n] = tx.objectStore(n); });
        var result;
        try {
          result = work(stores, tx);
        } catch (e) {
          try {
            tx.abort();
          } catch (ignored) {
            // already finished
          }
          reject(e);
          return;
        }
        tx.oncomplete = function () {
          var value = result && typeof result.get === "function" ? result.get() : result;
          resolve(value);
        };
        tx.onerror = function () { reject(tx.error || new Error("IndexedDB transaction failed")); };
        tx.onabort = function () { reject(tx.error || new Error("IndexedDB transaction aborted")); };
      });
    });
  }

  // A value filled in by a request callback inside a transaction, read after it commits.
  function box() {
    var value;
    return { set: function (v) { value = v; }, get: function () { return value; } };
  }

  function nowIso() {
    return new Date().toISOString();
  }

  /*
   * Put a finished form in the outbox. Adding the same instance_id twice keeps the first copy (a
   * reload after "Gửi phiếu" must not make a second form). Resolves with the stored item.
   */
  function add(entry) {
    var out = box();
    return run("readwrite", [OUTBOX], function (s) {
      var byId = s[OUTBOX].index("instance_id").get(entry.payload.instance_id);
      byId.onsuccess = function () {
        if (byId.result) {
          out.set(byId.result);
          return;
        }
        var item = {
          instance_id: entry.payload.instance_id,
          url: entry.url,
          payload: entry.payload,
          questionnaire: entry.payload.questionnaire,
          version: entry.payload.version,
          app_version: entry.app_version || null,
          unit_name: entry.unit_name || null,
          queued_at: nowIso(),
          attempts: 0,
          last_attempt_at: null,
          last_error: null,
          state: "pending"
        };
        var put = s[OUTBOX].add(item);
        put.onsuccess = function () {
          item.seq = put.result;
          out.set(item);
        };
      };
      return out;
    }, true).then(function (item) {
      fire(true);
      return item;
    });
  }

  function all() {
    var out = box();
    return run("readonly", [OUTBOX], function (s) {
      var request = s[OUTBOX].getAll();
      request.onsuccess = function () { out.set(request.result || []); };
      return out;
    });
  }

  function byState(state) {
    return all().then(function (items) {
      return items.filter(function (i) { return i.state === state; });
    });
  }

  function get(seq) {
    var out = box();
    return run("readonly", [OUTBOX], function (s) {
      var request = s[OUTBOX].get(seq);
      request.onsuccess = function () { out.set(request.result || null); };
      return out;
    });
  }

  // Change one item in place (in one transaction); `change(item)` edits it. Resolves with the item.
  function update(seq, change) {
    var out = box();
    return run("readwrite", [OUTBOX], function (s) {
      var request = s[OUTBOX].get(seq);
      request.onsuccess = function () {
        var item = request.result;
        if (!item) return;
        change(item);
        s[OUTBOX].put(item);
        out.set(item);
      };
      return out;
    }).then(function (item) {
      fire(true);
      return item || null;
    });
  }

  // Count one more attempt before sending, so that a tab killed mid-flight still leaves a trace.
  function noteAttempt(seq) {
    return update(seq, function (item) {
      item.attempts = (item.attempts || 0) + 1;
      item.last_attempt_at = nowIso();
    });
  }

  function noteError(seq, error) {
    return update(seq, function (item) {
      item.last_error = Object.assign({ at: nowIso() }, error);
    });
  }

  function toAttention(seq, error) {
    return update(seq, function (item) {
      item.state = "attention";
      item.last_error = Object.assign({ at: nowIso() }, error);
    });
  }

  function retry(seq) {
    return update(seq, function (item) { item.state = "pending"; });
  }

  // The server has it (201/200): remove it and record the time, in one transaction.
  function markSent(seq) {
    var at = nowIso();
    return run("readwrite", [OUTBOX, META], function (s) {
      s[OUTBOX].delete(seq);
      s[META].put({ key: "last_sync_at", value: at });
    }).then(function () {
      fire(true);
      return at;
    });
  }

  // Staff chose to throw away every unsent form. Resolves with the numbers removed.
  function clear() {
    var out = box();
    return run("readwrite", [OUTBOX], function (s) {
      var request = s[OUTBOX].getAll();
      request.onsuccess = function () {
        var items = request.result || [];
        out.set({
          pending: items.filter(function (i) { return i.state === "pending"; }).length,
          attention: items.filter(function (i) { return i.state === "attention"; }).length
        });
        s[OUTBOX].clear();
      };
      return out;
    }).then(function (removed) {
      fire(true);
      return removed;
    });
  }

  function counts() {
    return all().then(function (items) {
      var pending = 0;
      var attention = 0;
      items.forEach(function (i) {
        if (i.state === "attention") attention += 1;
        else pending += 1;
      });
      return { pending: pending, attention: attention };
    });
  }

  function getMeta(key) {
    var out = box();
    return run("readonly", [META], function (s) {
      var request = s[META].get(key);
      request.onsuccess = function () { out.set(request.result ? request.result.value : null); };
      return out;
    });
  }

  function setMeta(key, value) {
    return run("readwrite", [META], function (s) {
      s[META].put({ key: key, value: value });
    }).then(function () { fire(true); });
  }

  /*
   * The sync lease, for browsers without the Web Locks API: the holder writes {owner, expires}; a
   * tab takes it only when nobody holds it or the holder let it expire (a closed or crashed tab).
   * IndexedDB runs readwrite transactions on a store one at a time, so test-and-set is atomic.
   */
  function acquireLease(owner, ms) {
    var out = box();
    return run("readwrite", [META], function (s) {
      var request = s[META].get("sync_lease");
      request.onsuccess = function () {
        var lease = request.result ? request.result.value : null;
        var now = Date.now();
        if (lease && lease.owner !== owner && lease.expires > now) {
          out.set(false);
          return;
        }
        s[META].put({ key: "sync_lease", value: { owner: owner, expires: now + ms } });
        out.set(true);
      };
      return out;
    });
  }

  function releaseLease(owner) {
    return run("readwrite", [META], function (s) {
      var request = s[META].get("sync_lease");
      request.onsuccess = function () {
        var lease = request.result ? request.result.value : null;
        if (lease && lease.owner === owner) s[META].delete("sync_lease");
      };
    });
  }

  function onChange(fn) {
    listeners.push(fn);
  }

  root.SipasQueue = {
    available: available,
    open: open,
    add: add,
    all: all,
    get: get,
    pending: function () { return byState("pending"); },
    attention: function () { return byState("attention"); },
    counts: counts,
    noteAttempt: noteAttempt,
    noteError: noteError,
    toAttention: toAttention,
    retry: retry,
    markSent: markSent,
    clear: clear,
    getMeta: getMeta,
    setMeta: setMeta,
    acquireLease: acquireLease,
    releaseLease: releaseLease,
    onChange: onChange
  };
})(window);
