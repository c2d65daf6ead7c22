/*
 * What the counter staff need on the tablet, out of the respondent's way:
 *
 * - offline mode: registers the service worker (sw.js) and asks it to keep this kiosk's page,
 *   definition and manifest; says plainly when the page's origin cannot have offline mode (no HTTPS);
 * - a small dot in the header, nothing more: its colour tells staff online, offline or a problem, and
 *   tells a respondent nothing (no counts, no "chờ gửi" that would read as "your form was not sent");
 * - behind the staff PIN, a panel: "N phiếu chờ gửi", "Đồng bộ lần cuối: HH:MM", the outbox, the "cần xử lý" list with each server refusal,
 *   "Gửi ngay", "Xoá hàng đợi" (PIN again and a confirmation naming the forms that would be lost),
 *   persistent-storage state and versions;
 * - persistent storage requested from the browser, and a warning before leaving with unsent forms.
 *
 * The page carries the PIN only as "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>" (data-staff-pin);
 * a typed PIN is checked with the browser's Web Crypto (crypto.subtle PBKDF2). The PIN keeps respondents
 * out of the staff panel; it is not a secret (the hash is in the page). Web Crypto exists only on a
 * secure origin (HTTPS, or localhost / 127.0.0.1): on plain HTTP a PIN cannot be checked, so the panel
 * stays locked and says why, while the respondent's form works as usual. Without a PIN it opens as always.
 */
(function (root) {
  "use strict";

  var S = root.SipasSubmit;
  var Q = root.SipasQueue;
  var app = document.getElementById("kiosk");
  if (!app || !S) return;
  var el = root.SipasDom.el;

  var config = {
    token: app.getAttribute("data-token") || "",
    definitionUrl: app.getAttribute("data-definition-url"),
    manifestUrl: app.getAttribute("data-manifest-url"),
    swUrl: app.getAttribute("data-sw-url"),
    swScope: app.getAttribute("data-sw-scope"),
    appVersion: app.getAttribute("data-app-version") || "",
    pin: parsePin(app.getAttribute("data-staff-pin") || "")
  };

  var PIN_MAX_FAILURES = 5;
  var PIN_LOCK_MS = 60 * 1000;
  var PANEL_IDLE_MS = 2 * 60 * 1000;

  var TEXT = {
    pending: function (n) { return n + " phiếu chờ gửi"; },
    attention: function (n) { return n + " phiếu cần xử lý"; },
    lastSync: function (t) { return "Đồng bộ lần cuối: " + t; },
    neverSynced: "Chưa đồng bộ lần nào",
    online: "Trực tuyến",
    offline: "Ngoại tuyến",
    unreachable: "Chưa kết nối được máy chủ",
    revoked: "Đường dẫn đã bị thu hồi",
    noOffline: "Không có chế độ ngoại tuyến",
    badgeLabel: "Trạng thái gửi phiếu (dành cho cán bộ)",
    insecure: "Chế độ ngoại tuyến không hoạt động vì trang không chạy qua HTTPS. Khi mất mạng, máy vẫn giữ " +
      "các phiếu đã điền nếu trang còn mở, nhưng không mở lại được trang khi không có mạng. Xin báo cán bộ " +
      "kỹ thuật cấu hình HTTPS cho máy chủ (xem docs/deployment.md).",
    unsupported: "Chế độ ngoại tuyến không hoạt động vì trình duyệt này không hỗ trợ service worker. " +
      "Xin dùng Chrome hoặc một trình duyệt mới hơn.",
    offlineError: function (m) { return "Chưa bật được chế độ ngoại tuyến: " + m; },
    offlineChecking: "Đang chuẩn bị chế độ ngoại tuyến…",
    offlineReady: function (v) { return "Sẵn sàng: trang, phiếu khảo sát và các tệp đã lưu trên máy (phiên bản " + v + ")."; },
    offlinePartial: "Một phần chưa lưu được trên máy; mở lại trang khi có mạng.",
    updateReady: "Đã có phiên bản mới của ứng dụng. Tải lại trang khi không có người đang trả lời.",
    noQueue: "Trình duyệt không cho lưu dữ liệu (IndexedDB): phiếu được gửi ngay và máy chờ đến khi gửi xong.",
    persisted: "Đã được cấp: trình duyệt không tự xoá dữ liệu của trang.",
    notPersisted: "Chưa được cấp: khi máy thiếu dung lượng, trình duyệt có thể xoá dữ liệu. Nên cài ứng dụng " +
      "lên màn hình chính (Thêm vào màn hình chính).",
    persistUnsupported: "Trình duyệt không hỗ trợ.",
    panelTitle: "Bảng điều khiển cán bộ",
    pinTitle: "Mã PIN cán bộ",
    pinPrompt: "Nhập mã PIN để mở bảng điều khiển của cán bộ.",
    pinWrong: "Mã PIN không đúng.",
    pinLocked: function (s) { return "Nhập sai quá nhiều lần. Xin thử lại sau " + s + " giây."; },
    pinChecking: "Đang kiểm tra…",
    pinNeedsHttps: "Bảng điều khiển cán bộ đang khoá: trang không chạy qua HTTPS nên trình duyệt không kiểm tra " +
      "được mã PIN. Người dân vẫn điền và gửi phiếu bình thường. Xin báo cán bộ kỹ thuật cấu hình HTTPS cho " +
      "máy chủ (xem docs/deployment.md, mục 1 và 6).",
    pinFailed: "Trình duyệt không kiểm tra được mã PIN. Xin tải lại trang rồi thử lại.",
    open: "Mở",
    cancel: "Huỷ",
    close: "Đóng",
    syncNow: "Gửi ngay",
    clear: "Xoá hàng đợi",
    reload: "Tải lại trang",
    retry: "Gửi lại",
    download: "Tải về các phiếu chưa gửi (JSON)",
    syncing: "Đang gửi…",
    synced: function (n, a) {
      var text = n ? "Đã gửi " + n + " phiếu." : "Không còn phiếu nào chờ gửi.";
      return a ? text + " " + a + " phiếu bị máy chủ từ chối, xem mục “Cần xử lý”." : text;
    },
    syncFailed: function (m) { return "Chưa gửi được: " + m + " Máy sẽ tự thử lại."; },
    syncBusy: "Một thẻ khác trên máy đang gửi phiếu.",
    syncOffline: "Máy đang ngoại tuyến; phiếu sẽ được gửi khi có mạng.",
    held: function (n) { return n + " phiếu chưa gửi được vì đường dẫn đã bị thu hồi hoặc đợt khảo sát đã kết thúc."; },
    clearNothing: "Hàng đợi trống, không có gì để xoá.",
    clearNoPin: "Chưa đặt mã PIN cán bộ nên không thể xoá hàng đợi. Cán bộ quản trị đặt SIPAS_KIOSK_STAFF_PIN " +
      "trên máy chủ rồi tải lại trang.",
    clearWarn: function (n, p, a) {
      return "Xoá hàng đợi sẽ làm mất vĩnh viễn " + n + " phiếu chưa gửi lên máy chủ (" + p + " chờ gửi, " + a +
        " cần xử lý). Không thể khôi phục. Nhập lại mã PIN để xác nhận.";
    },
    clearConfirm: function (n) { return "Xoá vĩnh viễn " + n + " phiếu"; },
    cleared: function (n) { return "Đã xoá " + n + " phiếu khỏi hàng đợi."; },
    pendingTitle: function (n) { return "Phiếu chờ gửi (" + n + ")"; },
    attentionTitle: function (n) { return "Cần xử lý (" + n + ")"; },
    attentionHelp: "Máy chủ đã từ chối các phiếu dưới đây. Phiếu vẫn được giữ trên máy: tải về và chuyển cho " +
      "cán bộ quản trị, hoặc thử gửi lại sau khi đã khắc phục.",
    offlineNext: "khi có mạng trở lại",
    empty: "Không có.",
    finished: "Hoàn thành lúc",
    tries: function (n) { return "đã thử " + n + " lần"; },
    lastError: "Lỗi gần nhất",
    rows: {
      connection: "Kết nối",
      pending: "Phiếu chờ gửi",
      attention: "Cần xử lý",
      lastSync: "Đồng bộ lần cuối",
      nextTry: "Lần thử tiếp theo",
      offline: "Chế độ ngoại tuyến",
      persist: "Lưu trữ bền vững",
      usage: "Dung lượng đã dùng",
      questionnaire: "Phiếu khảo sát",
      appVersion: "Phiên bản ứng dụng"
    },
    inSeconds: function (s) { return "sau khoảng " + s + " giây"; },
    none: "Chưa có",
    leave: "Còn phiếu chưa gửi lên máy chủ."
  };

  var offline = { state: "checking", reason: "", version: null, updateReady: false };
  var persisted = null; // true | false | "unsupported"
  var usage = null;
  var definition = null; // {questionnaire, version, campaign}
  var latest = { pending: 0, attention: 0 }; // for beforeunload, which must answer at once
  var message = "";
  var panel = null;
  var panelTimer = null;
  var clearBox = false;

  // ---------------------------------------------------------------------------------- helpers

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // "HH:MM" today, "HH:MM dd/mm" on another day (the tablet's own clock and time zone).
  function clock(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var text = pad(d.getHours()) + ":" + pad(d.getMinutes());
    var today = new Date();
    if (d.toDateString() !== today.toDateString()) text += " " + pad(d.getDate()) + "/" + pad(d.getMonth() + 1);
    return text;
  }

  function fullTime(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + pad(d.getDate()) +
      "/" + pad(d.getMonth() + 1) + "/" + d.getFullYear();
  }

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(1).replace(".", ",") + " MB";
  }

  // ---------------------------------------------------------------------------- PIN checking

  function parsePin(record) {
    var parts = record.split("$");
    if (parts.length !== 4 || parts[0] !== "pbkdf2-sha256") return null;
    var iterations = parseInt(parts[1], 10);
    if (!(iterations > 0) || !/^[0-9a-f]+$/.test(parts[2]) || !/^[0-9a-f]{64}$/.test(parts[3])) return null;
    return { iterations: iterations, salt: parts[2], hash: parts[3] };
  }

  function hexToBytes(hex) {
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i += 1) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function bytesToHex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
  }

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  function subtleCrypto() {
    return (root.crypto && root.crypto.subtle) || null;
  }

  // Whether a typed PIN can be checked here: no PIN set, or Web Crypto (a secure origin).
  function pinCheckable() {
    return !config.pin || subtleCrypto() !== null;
  }

  // PBKDF2-HMAC-SHA256 with a 32-byte result, as Python's hashlib.pbkdf2_hmac; rejects without Web Crypto.
  function pbkdf2(password, salt, iterations) {
    var subtle = subtleCrypto();
    if (!subtle) return Promise.reject(new Error("Web Crypto is not available (the page is not on HTTPS)"));
    return subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]).then(function (key) {
      return subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: salt, iterations: iterations }, key, 256);
    }).then(function (bits) { return new Uint8Array(bits); });
  }

  // Constant-time comparison is not needed on the tablet itself, but costs nothing.
  function checkPin(typed) {
    if (!config.pin) return Promise.resolve(true);
    if (!pinCheckable()) return Promise.resolve(false); // no Web Crypto: the panel stays locked
    var text = String(typed || "").trim();
    if (!/^[0-9]{4,12}$/.test(text)) return Promise.resolve(false);
    return pbkdf2(utf8(text), hexToBytes(config.pin.salt), config.pin.iterations).then(function (bytes) {
      var hex = bytesToHex(bytes);
      var diff = 0;
      for (var i = 0; i < hex.length; i += 1) diff |= hex.charCodeAt(i) ^ config.pin.hash.charCodeAt(i);
      return diff === 0 && hex.length === config.pin.hash.length;
    });
  }

  function pinLock() {
    try {
      return JSON.parse(root.localStorage.getItem("sipas-kiosk-pin") || "null") || { failures: 0, until: 0 };
    } catch (e) {
      return { failures: 0, until: 0 };
    }
  }

  function savePinLock(lock) {
    try {
      root.localStorage.setItem("sipas-kiosk-pin", JSON.stringify(lock));
    } catch (e) {
      // storage disabled: the lockout lasts as long as the page
    }
  }

  // Check a typed PIN with the tablet's lockout; resolves {ok} or {ok: false, message}.
  function tryPin(typed) {
    var lock = pinLock();
    var now = Date.now();
    if (lock.until > now) {
      return Promise.resolve({ ok: false, message: TEXT.pinLocked(Math.ceil((lock.until - now) / 1000)) });
    }
    return checkPin(typed).then(function (ok) {
      if (ok) {
        savePinLock({ failures: 0, until: 0 });
        return { ok: true };
      }
      lock.failures = (lock.failures || 0) + 1;
      if (lock.failures >= PIN_MAX_FAILURES) {
        lock = { failures: 0, until: Date.now() + PIN_LOCK_MS };
        savePinLock(lock);
        return { ok: false, message: TEXT.pinLocked(Math.ceil(PIN_LOCK_MS / 1000)) };
      }
      savePinLock(lock);
      return { ok: false, message: TEXT.pinWrong };
    }, function () {
      return { ok: false, message: TEXT.pinFailed }; // the browser refused the check: not a wrong PIN
    });
  }

  // ------------------------------------------------------------------------------ offline mode

  function messageWorker(worker, data, timeoutMs) {
    return new Promise(function (resolve, reject) {
      var channel = new MessageChannel();
      var timer = setTimeout(function () { reject(new Error("no answer from the service worker")); }, timeoutMs);
      channel.port1.onmessage = function (event) {
        clearTimeout(timer);
        resolve(event.data || {});
      };
      worker.postMessage(data, [channel.port2]);
    });
  }

  function controlled() {
    var sw = navigator.serviceWorker;
    if (sw.controller) return Promise.resolve(sw.controller);
    return new Promise(function (resolve) {
      sw.addEventListener("controllerchange", function onChange() {
        if (!sw.controller) return;
        sw.removeEventListener("controllerchange", onChange);
        resolve(sw.controller);
      });
    });
  }

  function absolute(url) {
    return new URL(url, root.location.href).href;
  }

  function warm(worker) {
    var page = new URL(root.location.href);
    page.hash = "";
    var urls = [page.href, absolute(config.definitionUrl), absolute(config.manifestUrl)];
    return messageWorker(worker, { type: "warm", urls: urls }, 60000).then(function (reply) {
      offline.state = reply.ready ? "ready" : "partial";
      offline.version = reply.version || null;
      offline.updateReady = !!(reply.version && config.appVersion && reply.version !== config.appVersion);
      document.documentElement.setAttribute("data-offline", offline.state);
      refresh();
      return reply;
    });
  }

  function setupOffline() {
    if (!root.isSecureContext || !("serviceWorker" in navigator)) {
      offline.state = "unavailable";
      offline.reason = root.isSecureContext ? TEXT.unsupported : TEXT.insecure;
      document.documentElement.setAttribute("data-offline", "unavailable");
      return;
    }
    var sw = navigator.serviceWorker;
    function failed(error) {
      offline.state = "error";
      offline.reason = TEXT.offlineError(String(error && error.message || error));
      document.documentElement.setAttribute("data-offline", "error");
      refresh();
    }
    // Registering also checks for a new release, which fails with no network: that is no reason to
    // doubt the worker that already controls this page (it is what opened the page offline).
    sw.register(config.swUrl, { scope: config.swScope }).catch(function (error) {
      if (!sw.controller) failed(error);
    });
    controlled().then(warm).catch(failed);
    // A new release took over: keep this page's addresses in its cache too.
    sw.addEventListener("controllerchange", function () {
      if (sw.controller && offline.state !== "checking") warm(sw.controller).catch(function () { return null; });
    });
  }

  function setupPersistence() {
    var storage = navigator.storage;
    if (!storage || typeof storage.persisted !== "function") {
      persisted = "unsupported";
      return;
    }
    storage.persisted().then(function (already) {
      if (already || typeof storage.persist !== "function") return already;
      return storage.persist();
    }).then(function (granted) {
      persisted = !!granted;
      refresh();
    }, function () {
      persisted = "unsupported";
    });
  }

  function estimateUsage() {
    var storage = navigator.storage;
    if (!storage || typeof storage.estimate !== "function") return;
    storage.estimate().then(function (e) {
      usage = e;
      if (panel && !clearBox) renderPanel();
    }, function () { return null; });
  }

  // ------------------------------------------------------------------------------------ badge

  var badge = el("button", {
    type: "button", className: "k-staff", id: "k-staff", "aria-label": TEXT.badgeLabel,
    "data-state": "online", onclick: function () { askPin(openPanel); }
  });
  var badgeDot = el("span", { className: "k-staff__dot", "aria-hidden": "true" });
  var badgeLine1 = el("span", { className: "k-staff__line", id: "k-staff-pending" });
  var badgeLine2 = el("span", { className: "k-staff__line k-staff__line--small", id: "k-staff-sync" });
  badge.appendChild(badgeDot);
  // The two status lines are shown at the top of the staff panel only (renderPanel).
  var badgeText = el("div", { className: "k-panel__summary", id: "k-staff-summary" }, [badgeLine1, badgeLine2]);

  // Put the badge into a freshly drawn header (kiosk.js redraws the header on every screen).
  function mount(header) {
    if (!header) return;
    var unit = header.querySelector(".k-header__unit");
    header.insertBefore(badge, unit ? unit.nextSibling : header.firstChild);
  }

  function connectionState(status) {
    if (!status.online) return "offline";
    var last = status.last;
    if (last && last.failed && (status.pending || 0) > 0) return "problem";
    return "online";
  }

  function render(status) {
    var state = connectionState(status);
    var revoked = status.revoked && status.revoked[config.token];
    badge.setAttribute("data-state", revoked ? "revoked" : state);
    var first = status.queue ? TEXT.pending(status.pending || 0) : TEXT.noOffline;
    if (status.attention) first += " · " + TEXT.attention(status.attention);
    if (revoked) first += " · " + TEXT.revoked;
    badgeLine1.textContent = first;
    var word = state === "offline" ? TEXT.offline : (state === "problem" ? TEXT.unreachable : TEXT.online);
    var second = word + " · " + (status.lastSyncAt ? TEXT.lastSync(clock(status.lastSyncAt)) : TEXT.neverSynced);
    if (offline.state === "unavailable") second += " · " + TEXT.noOffline;
    badgeLine2.textContent = second;
    badge.classList.toggle("k-staff--attention", !!(status.attention || revoked));
    badge.classList.toggle("k-staff--warning", offline.state === "unavailable" || offline.state === "error");
  }

  var refreshing = null;
  var refreshAgain = false;
  var lastStatus = null;

  function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = S.status().then(function (status) {
      lastStatus = status;
      latest = { pending: status.pending || 0, attention: status.attention || 0 };
      render(status);
      // Not while staff type the PIN to clear the queue: that would wipe what they typed. The count
      // they were shown can only be too high (a sync sends forms, it never adds any), and the final
      // message gives the number actually removed.
      if (panel && !clearBox) renderPanel();
    }).catch(function () { return null; }).then(function () {
      refreshing = null;
      if (refreshAgain) {
        refreshAgain = false;
        refresh();
      }
    });
    return refreshing;
  }

  // ------------------------------------------------------------------------------- PIN prompt

  function overlay(id, labelId, children) {
    var box = el("div", { className: "k-overlay", id: id, role: "dialog", "aria-modal": "true", "aria-labelledby": labelId }, [
      el("div", { className: "k-overlay__box" }, children)
    ]);
    document.body.appendChild(box);
    return box;
  }

  function closeOverlay(node) {
    if (node && node.parentNode) node.parentNode.removeChild(node);
  }

  function askPin(then) {
    if (!config.pin) {
      then();
      return;
    }
    if (document.getElementById("k-pin")) return;
    if (!pinCheckable()) {
      lockedNotice();
      return;
    }
    var input = el("input", {
      type: "password", id: "k-pin-input", className: "input k-pin__input", inputmode: "numeric",
      autocomplete: "off", maxlength: "12", "aria-describedby": "k-pin-error"
    });
    var error = el("p", { className: "k-pin__error", id: "k-pin-error", role: "alert" });
    var box;
    function submit(event) {
      if (event) event.preventDefault();
      error.textContent = TEXT.pinChecking;
      tryPin(input.value).then(function (result) {
        if (result.ok) {
          closeOverlay(box);
          then();
        } else {
          error.textContent = result.message;
          input.value = "";
          input.focus();
        }
      });
    }
    var form = el("form", { className: "k-pin", onsubmit: submit }, [
      el("h2", { id: "k-pin-title", text: TEXT.pinTitle }),
      el("p", { text: TEXT.pinPrompt }),
      input,
      error,
      el("div", { className: "k-overlay__actions" }, [
        el("button", { type: "button", className: "btn btn--secondary", id: "k-pin-cancel", text: TEXT.cancel, onclick: function () { closeOverlay(box); } }),
        el("button", { type: "submit", className: "btn btn--primary", id: "k-pin-ok", text: TEXT.open })
      ])
    ]);
    box = overlay("k-pin", "k-pin-title", [form]);
    input.focus();
  }

  // A PIN is set but cannot be checked on this page (no Web Crypto without HTTPS): say so, stay locked.
  function lockedNotice() {
    var box;
    var form = el("div", { className: "k-pin", id: "k-pin-locked" }, [
      el("h2", { id: "k-pin-title", text: TEXT.pinTitle }),
      el("p", { className: "k-pin__error", id: "k-pin-error", role: "alert", text: TEXT.pinNeedsHttps }),
      el("p", { id: "k-pin-offline", text: offline.reason || "" }),
      el("div", { className: "k-overlay__actions" }, [
        el("button", { type: "button", className: "btn btn--primary", id: "k-pin-cancel", text: TEXT.close, onclick: function () { closeOverlay(box); } })
      ])
    ]);
    box = overlay("k-pin", "k-pin-title", [form]);
    document.getElementById("k-pin-cancel").focus();
  }

  // ------------------------------------------------------------------------------ staff panel

  function touchPanel() {
    if (panelTimer) clearTimeout(panelTimer);
    panelTimer = setTimeout(closePanel, PANEL_IDLE_MS); // never left open for the next respondent
  }

  function openPanel() {
    if (panel) return;
    message = "";
    clearBox = false;
    panel = overlay("k-panel", "k-panel-title", []);
    panel.classList.add("k-overlay--panel");
    panel.addEventListener("pointerdown", touchPanel);
    panel.addEventListener("keydown", touchPanel);
    touchPanel();
    estimateUsage();
    renderPanel();
    refresh();
  }

  function closePanel() {
    if (panelTimer) clearTimeout(panelTimer);
    panelTimer = null;
    closeOverlay(panel);
    panel = null;
  }

  function row(label, value, id) {
    return el("div", { className: "k-panel__row" }, [
      el("dt", { text: label }),
      el("dd", { id: id || null }, [value])
    ]);
  }

  function errorText(error) {
    if (!error) return "";
    var text = error.message || "";
    if (error.status) text += " (HTTP " + error.status + ")";
    return text;
  }

  function itemLine(item) {
    var bits = [TEXT.finished + " " + fullTime(item.queued_at), TEXT.tries(item.attempts || 0)];
    if (item.unit_name) bits.unshift(item.unit_name);
    return bits.join(" · ");
  }

  function pendingList(items) {
    if (!items.length) return el("p", { className: "k-panel__empty", text: TEXT.empty });
    return el("ol", { className: "k-panel__list", id: "k-pending-list" }, items.map(function (item) {
      return el("li", { className: "k-panel__item", "data-instance": item.instance_id }, [
        el("div", { text: itemLine(item) }),
        el("div", { className: "k-panel__id", text: item.instance_id }),
        item.last_error ? el("div", { className: "k-panel__error", text: TEXT.lastError + ": " + errorText(item.last_error) }) : null
      ]);
    }));
  }

  function attentionList(items) {
    if (!items.length) return el("p", { className: "k-panel__empty", text: TEXT.empty });
    return el("ol", { className: "k-panel__list", id: "k-attention-list" }, items.map(function (item) {
      var errors = (item.last_error && item.last_error.errors) || [];
      return el("li", { className: "k-panel__item k-panel__item--attention", "data-instance": item.instance_id }, [
        el("div", { text: itemLine(item) }),
        el("div", { className: "k-panel__id", text: item.instance_id }),
        el("div", { className: "k-panel__error", text: errorText(item.last_error) }),
        errors.length ? el("ul", { className: "k-panel__errors" }, errors.map(function (e) {
          return el("li", { text: (e.item ? e.item + ": " : "") + e.message });
        })) : null,
        el("button", {
          type: "button", className: "btn btn--secondary btn--small", "data-retry": String(item.seq), text: TEXT.retry,
          onclick: function () {
            Q.retry(item.seq).then(function () { return S.syncNow(); }).then(afterSync);
          }
        })
      ]);
    }));
  }

  function download(items) {
    var rows = items.map(function (item) {
      var payload = {};
      Object.keys(item.payload || {}).forEach(function (k) { if (k !== "kiosk_token") payload[k] = item.payload[k]; });
      return {
        instance_id: item.instance_id, state: item.state, unit_name: item.unit_name, queued_at: item.queued_at,
        attempts: item.attempts, last_error: item.last_error, payload: payload
      };
    });
    var blob = new Blob([JSON.stringify(rows, null, 2)], { type: "application/json" });
    var url = URL.createObjectURL(blob);
    var stamp = new Date();
    var name = "phieu-chua-gui-" + stamp.getFullYear() + pad(stamp.getMonth() + 1) + pad(stamp.getDate()) + "-" +
      pad(stamp.getHours()) + pad(stamp.getMinutes()) + ".json";
    var link = el("a", { href: url, download: name, hidden: true });
    document.body.appendChild(link);
    link.click();
    setTimeout(function () {
      URL.revokeObjectURL(url);
      if (link.parentNode) link.parentNode.removeChild(link);
    }, 1000);
  }

  function afterSync(summary) {
    if (!summary) return refresh();
    if (summary.skipped === "busy") message = TEXT.syncBusy;
    else if (summary.skipped === "offline") message = TEXT.syncOffline;
    else if (summary.failed) message = TEXT.syncFailed(summary.failed.message || "");
    else message = TEXT.synced(summary.sent || 0, summary.attention || 0);
    if (summary.held) message += " " + TEXT.held(summary.held);
    return refresh();
  }

  function offlineText() {
    if (offline.state === "ready") return TEXT.offlineReady(offline.version || config.appVersion);
    if (offline.state === "partial") return TEXT.offlinePartial;
    if (offline.state === "checking") return TEXT.offlineChecking;
    return offline.reason;
  }

  function persistText() {
    if (persisted === true) return TEXT.persisted;
    if (persisted === false) return TEXT.notPersisted;
    return TEXT.persistUnsupported;
  }

  function clearSection(status) {
    var total = (status.pending || 0) + (status.attention || 0);
    if (!config.pin) return el("p", { className: "k-panel__warning", id: "k-clear-box", text: TEXT.clearNoPin });
    if (!total) return el("p", { className: "k-panel__note", id: "k-clear-box", text: TEXT.clearNothing });
    var input = el("input", {
      type: "password", id: "k-clear-pin", className: "input k-pin__input", inputmode: "numeric",
      autocomplete: "off", maxlength: "12", "aria-label": TEXT.pinTitle
    });
    var error = el("p", { className: "k-pin__error", id: "k-clear-error", role: "alert" });
    var label = el("label", { className: "k-pin__label", "for": "k-clear-pin", text: TEXT.pinTitle });
    var confirm = el("button", {
      type: "submit", className: "btn btn--danger", id: "k-clear-confirm", text: TEXT.clearConfirm(total)
    });
    return el("form", {
      className: "k-panel__clear", id: "k-clear-box",
      onsubmit: function (event) {
        event.preventDefault();
        confirm.disabled = true;
        error.textContent = TEXT.pinChecking;
        tryPin(input.value).then(function (result) {
          if (!result.ok) {
            error.textContent = result.message;
            input.value = "";
            confirm.disabled = false;
            return null;
          }
          return Q.clear().then(function (removed) {
            clearBox = false;
            message = TEXT.cleared(removed.pending + removed.attention);
            return refresh();
          });
        });
      }
    }, [
      el("p", { className: "k-panel__warning", id: "k-clear-warning", text: TEXT.clearWarn(total, status.pending || 0, status.attention || 0) }),
      label,
      input,
      error,
      el("div", { className: "k-overlay__actions" }, [
        el("button", { type: "button", className: "btn btn--secondary", text: TEXT.cancel, onclick: function () { clearBox = false; renderPanel(); } }),
        confirm
      ])
    ]);
  }

  function renderPanel() {
    if (!panel) return;
    var status = lastStatus || { queue: S.queueAvailable(), online: navigator.onLine !== false };
    var pendingItems = [];
    var attentionItems = [];
    var lists = status.queue && Q ? Promise.all([Q.pending(), Q.attention()]) : Promise.resolve([[], []]);
    lists.then(function (r) {
      pendingItems = r[0];
      attentionItems = r[1];
    }, function () { return null; }).then(function () {
      if (!panel) return;
      var box = panel.querySelector(".k-overlay__box");
      var scroll = box.scrollTop;
      box.innerHTML = "";
      var state = connectionState(status);
      var connection = state === "offline" ? TEXT.offline : (state === "problem" ? TEXT.unreachable : TEXT.online);
      if (status.last && status.last.failed && status.last.failed.message && state !== "online") {
        connection += " — " + status.last.failed.message;
      }
      var next = "—";
      if ((status.pending || 0) > 0 && !status.online) next = TEXT.offlineNext;
      else if ((status.pending || 0) > 0 && status.nextAttemptAt) {
        next = TEXT.inSeconds(Math.max(0, Math.round((status.nextAttemptAt - Date.now()) / 1000)));
      }
      var revoked = status.revoked && status.revoked[config.token];
      var rows = [
        row(TEXT.rows.connection, connection, "k-panel-connection"),
        row(TEXT.rows.pending, String(status.pending || 0), "k-panel-pending"),
        row(TEXT.rows.attention, String(status.attention || 0), "k-panel-attention"),
        row(TEXT.rows.lastSync, status.lastSyncAt ? fullTime(status.lastSyncAt) : TEXT.none, "k-panel-last-sync"),
        row(TEXT.rows.nextTry, next),
        row(TEXT.rows.offline, offlineText(), "k-panel-offline"),
        row(TEXT.rows.persist, persistText(), "k-panel-persist"),
        usage && usage.usage !== undefined ? row(TEXT.rows.usage, megabytes(usage.usage) + " / " + megabytes(usage.quota || 0)) : null,
        definition ? row(TEXT.rows.questionnaire, definition.questionnaire + ", phiên bản " + definition.version, "k-panel-questionnaire") : null,
        row(TEXT.rows.appVersion, config.appVersion, "k-panel-app-version")
      ];
      var actions = el("div", { className: "k-panel__actions" }, [
        el("button", {
          type: "button", className: "btn btn--primary", id: "k-sync-now", text: status.syncing ? TEXT.syncing : TEXT.syncNow,
          disabled: !status.queue,
          onclick: function () {
            message = TEXT.syncing;
            S.syncNow().then(afterSync);
            refresh();
          }
        }),
        el("button", {
          type: "button", className: "btn btn--secondary", id: "k-clear", text: TEXT.clear, disabled: !status.queue,
          onclick: function () {
            clearBox = true;
            renderPanel();
            var input = document.getElementById("k-clear-pin");
            if (input) input.focus();
          }
        }),
        pendingItems.length + attentionItems.length ? el("button", {
          type: "button", className: "btn btn--secondary", id: "k-download", text: TEXT.download,
          onclick: function () { download(attentionItems.concat(pendingItems)); }
        }) : null,
        offline.updateReady ? el("button", {
          type: "button", className: "btn btn--secondary", id: "k-reload", text: TEXT.reload,
          onclick: function () { root.location.reload(); }
        }) : null,
        el("button", { type: "button", className: "btn btn--secondary", id: "k-staff-close", text: TEXT.close, onclick: closePanel })
      ]);
      box.appendChild(el("h2", { id: "k-panel-title", text: TEXT.panelTitle }));
      box.appendChild(badgeText);
      if (offline.state === "unavailable") box.appendChild(el("p", { className: "k-panel__warning", id: "k-offline-warning", role: "alert", text: offline.reason }));
      if (!status.queue) box.appendChild(el("p", { className: "k-panel__warning", text: TEXT.noQueue }));
      if (revoked) box.appendChild(el("p", { className: "k-panel__warning", text: TEXT.revoked + ": " + TEXT.held(status.pending || 0) }));
      if (offline.updateReady) box.appendChild(el("p", { className: "k-panel__note", text: TEXT.updateReady }));
      box.appendChild(el("dl", { className: "k-panel__facts" }, rows));
      box.appendChild(actions);
      box.appendChild(el("p", { className: "k-panel__message", id: "k-staff-message", role: "status", "aria-live": "polite", text: message }));
      if (clearBox) box.appendChild(clearSection(status));
      box.appendChild(el("h3", { text: TEXT.attentionTitle(attentionItems.length) }));
      if (attentionItems.length) box.appendChild(el("p", { className: "k-panel__note", text: TEXT.attentionHelp }));
      box.appendChild(attentionList(attentionItems));
      box.appendChild(el("h3", { text: TEXT.pendingTitle(pendingItems.length) }));
      box.appendChild(pendingList(pendingItems));
      box.scrollTop = scroll;
      var clearInput = document.getElementById("k-clear-pin");
      if (clearBox && clearInput && document.activeElement === document.body) clearInput.focus();
    });
  }

  // --------------------------------------------------------------------------------- start up

  mount(app.querySelector(".k-header"));
  S.onStatus(refresh);
  root.addEventListener("online", refresh);
  root.addEventListener("offline", refresh);
  setInterval(refresh, 15000); // the clock in "Đồng bộ lần cuối", and forms queued by other tabs
  root.addEventListener("beforeunload", function (event) {
    if (latest.pending > 0) {
      event.preventDefault();
      event.returnValue = TEXT.leave; // browsers show their own words; the prompt is what matters
      return TEXT.leave;
    }
    return undefined;
  });
  setupOffline();
  if (root.isSecureContext) setupPersistence();
  else persisted = "unsupported";
  refresh();

  root.SipasStaff = {
    mount: mount,
    // kiosk.js reports what it renders: the questionnaire id and version, and the campaign.
    setDefinition: function (info) {
      definition = info;
      if (panel) renderPanel();
    },
    checkPin: checkPin,
    pinCheckable: pinCheckable,
    // The PIN hash as the tablet computes it (Web Crypto), hex: tests compare it with Python's hashlib.
    pbkdf2: function (password, saltHex, iterations) {
      return pbkdf2(utf8(password), hexToBytes(saltHex), iterations).then(bytesToHex);
    },
    refresh: refresh,
    // What the staff panel's summary says ("N phiếu chờ gửi …", connection and last sync), for checks.
    statusText: function () { return badgeLine1.textContent + "\n" + badgeLine2.textContent; }
  };
})(window);
