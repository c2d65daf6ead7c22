/*
 * The kiosk's service worker (served as /k/sw.js, scope /k/): the kiosk opens and takes responses
 * with no network once it has been opened online.
 *
 *   kiosk page /k/<token>, its manifest, its definition JSON   network first, the last good copy when
 *   (and a phone's /k/p/<campaign>[/<unit>] and its definition)
 *                                                              the network fails or keeps us waiting
 *   static files /static/…?v=<version>                         cache first (the version is in the URL)
 *   spoken prompts /k/<token>/audio/<sha256>.<ext>             cache first (the hash is in the URL); the
 *                                                              clips the definition lists are fetched
 *                                                              when the page asks to warm, so the kiosk
 *                                                              speaks offline
 *   everything else (POST /api/v1/responses, staff pages, …)   not touched: straight to the network
 *
 * The route /k/sw.js fills in VERSION (a hash of the kiosk's files) and ASSETS (their versioned
 * addresses). A release changes this file's bytes, so the browser installs the new worker, which
 * fetches the new files into a new cache and deletes the old one when it takes over.
 *
 * Answers are never cached and never sent from here: the page keeps them in IndexedDB and sends them
 * itself (queue.js, submit.js), so that only a page the staff can see decides what is sent.
 */
"use strict";

var VERSION = /*SIPAS:VERSION*/"dev";
var ASSETS = /*SIPAS:ASSETS*/[];

var PREFIX = "sipas-kiosk-";
var STATIC_CACHE = PREFIX + "static-" + VERSION;
var PAGE_CACHE = PREFIX + "pages";
// Not versioned: a clip's address holds its hash, so a release does not make it stale.
var AUDIO_CACHE = PREFIX + "audio";
var AUDIO_PATH = /^([^/]+)\/audio\/[0-9a-f]{64}\.[a-z0-9]{2,5}$/;
// How long a page or definition request may wait for the network before the saved copy is used
// (a mountain commune's link can hang rather than fail); the network answer still refreshes the cache.
var NETWORK_WAIT_MS = 4000;

var SCOPE = new URL(self.registration.scope).pathname; // "/k/" (or "/prefix/k/" behind a prefix)
var ROOT = SCOPE.replace(/k\/$/, ""); // "/"

var OFFLINE_PAGE =
  "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">" +
  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" +
  "<title>Chưa có kết nối</title></head><body>" +
  "<h1>Chưa kết nối được máy chủ</h1>" +
  "<p>Máy tính bảng chưa lưu trang khảo sát này để dùng khi mất mạng. Xin kiểm tra kết nối mạng rồi " +
  "tải lại trang. Nếu vẫn không được, xin báo cán bộ kỹ thuật.</p>" +
  "<p lang=\"en\">No connection, and this kiosk page was not saved for offline use yet.</p>" +
  "</body></html>";

// What a same-origin URL is to this worker: "static", "page" (network first) or null (not ours).
function kindOf(url) {
  if (url.origin !== self.location.origin) return null;
  var path = url.pathname;
  if (path.indexOf(ROOT + "static/") === 0) return "static";
  if (path.indexOf(SCOPE) === 0) {
    var rest = path.slice(SCOPE.length);
    if (rest === "sw.js") return null;
    if (AUDIO_PATH.test(rest)) return "audio";
    if (/^[^/]+$/.test(rest) || /^[^/]+\/manifest\.webmanifest$/.test(rest)) return "page";
    if (/^p\/[0-9]+(\/[^/]+)?$/.test(rest)) return "page"; // a respondent's own phone (/k/p/…)
    return null;
  }
  if (/^api\/v1\/kiosk\/[^/]+\/definition$/.test(path.slice(ROOT.length))) return "page";
  if (/^api\/v1\/phone\/[0-9]+\/definition$/.test(path.slice(ROOT.length))) return "page";
  return null;
}

function cacheKey(url) {
  var u = new URL(url);
  u.hash = "";
  return u.href;
}

function savedCopy(url) {
  return caches.open(PAGE_CACHE).then(function (cache) {
    return cache.match(cacheKey(url), { ignoreVary: true });
  });
}

// Only a complete, successful answer replaces the saved copy (never an error page or a redirect).
function keep(url, response) {
  if (!response || response.status !== 200 || response.type !== "basic" || response.redirected) {
    return Promise.resolve(false);
  }
  var copy = response.clone();
  return caches.open(PAGE_CACHE).then(function (cache) {
    return cache.put(cacheKey(url), copy).then(function () { return true; });
  });
}

function unavailable(request) {
  if (request.mode === "navigate") {
    return new Response(OFFLINE_PAGE, {
      status: 503,
      headers: {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "no-store"
      }
    });
  }
  return new Response(JSON.stringify({
    status: "error", code: "offline",
    message: "Chưa kết nối được máy chủ và máy chưa lưu bản sao.",
    message_en: "offline and no saved copy"
  }), { status: 503, headers: { "Content-Type": "application/json", "Cache-Control": "no-store" } });
}

function networkFirst(event) {
  var request = event.request;
  var network = fetch(request).then(function (response) {
    return keep(request.url, response).then(function () { return response; }, function () { return response; });
  });
  event.waitUntil(network.catch(function () { return null; })); // let the refresh finish in the background
  return new Promise(function (resolve) {
    var settled = false;
    function answer(response) {
      if (settled) return;
      settled = true;
      resolve(response);
    }
    var timer = setTimeout(function () {
      savedCopy(request.url).then(function (saved) { if (saved) answer(saved); });
    }, NETWORK_WAIT_MS);
    network.then(function (response) {
      clearTimeout(timer);
      if (response.status >= 500) {
        // The server is there but broken (e.g. its database is down): the saved copy serves better.
        return savedCopy(request.url).then(function (saved) { answer(saved || response); });
      }
      answer(response);
      return null;
    }, function () {
      clearTimeout(timer);
      return savedCopy(request.url).then(function (saved) { answer(saved || unavailable(request)); });
    }).catch(function () { answer(unavailable(request)); });
  });
}

function cacheFirst(request, url) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.match(request, { ignoreVary: true }).then(function (hit) {
      if (hit) return hit;
      return fetch(request).then(function (response) {
        if (response.status === 200 && url.searchParams.get("v") === VERSION) {
          cache.put(request, response.clone());
        }
        return response;
      }, function (error) {
        // A page saved by an older release asks for ?v=<old>: the current copy of that file will do.
        return cache.match(request, { ignoreSearch: true, ignoreVary: true }).then(function (any) {
          if (any) return any;
          throw error;
        });
      });
    });
  });
}

function audioFirst(request) {
  return caches.open(AUDIO_CACHE).then(function (cache) {
    return cache.match(cacheKey(request.url), { ignoreVary: true }).then(function (hit) {
      if (hit) return hit;
      return fetch(request).then(function (response) {
        if (response.status === 200 && response.type === "basic" && !request.headers.has("Range")) {
          cache.put(cacheKey(request.url), response.clone());
        }
        return response;
      });
    });
  });
}

// The clips a saved definition lists (def.audio.clips[language][prompt]): fetch those not kept yet, and
// drop the kiosk's clips it no longer lists (recorded again, or unapproved). Resolves to the missing.
function warmAudio(definitionUrl) {
  var token = (definitionUrl.match(/\/kiosk\/([^/]+)\/definition$/) || [])[1];
  return savedCopy(definitionUrl).then(function (saved) {
    if (!saved || !token) return [];
    return saved.clone().json().then(function (def) {
      var clips = (def && def.audio && def.audio.clips) || {};
      var wanted = [];
      Object.keys(clips).forEach(function (lang) {
        Object.keys(clips[lang] || {}).forEach(function (key) {
          var url = new URL(clips[lang][key], self.location.href).href;
          if (wanted.indexOf(url) < 0) wanted.push(url);
        });
      });
      // A campaign without clips leaves no audio cache behind.
      return caches.has(AUDIO_CACHE).then(function (has) {
        return has || wanted.length ? caches.open(AUDIO_CACHE) : null;
      }).then(function (cache) {
        if (!cache) return [];
        var prefix = new URL(SCOPE + token + "/audio/", self.location.href).href;
        return cache.keys().then(function (requests) {
          return Promise.all(requests.filter(function (r) {
            return r.url.indexOf(prefix) === 0 && wanted.indexOf(r.url) < 0;
          }).map(function (r) { return cache.delete(r); }));
        }).then(function () {
          return Promise.all(wanted.map(function (url) {
            return cache.match(url).then(function (hit) {
              if (hit) return null;
              return fetch(url, { credentials: "omit" }).then(function (response) {
                if (response.status !== 200) return url;
                return cache.put(url, response).then(function () { return null; });
              }).catch(function () { return url; });
            });
          }));
        });
      }).then(function (results) { return results.filter(Boolean); });
    }).catch(function () { return []; });
  });
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(STATIC_CACHE).then(function (cache) {
      // All or nothing: a half-filled cache would leave the kiosk broken offline.
      return cache.addAll(ASSETS.map(function (url) { return new Request(url, { cache: "reload" }); }));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf(PREFIX + "static-") === 0 && name !== STATIC_CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return; // answers go straight to the server and are never cached
  var url = new URL(request.url);
  var kind = kindOf(url);
  if (kind === "static") event.respondWith(cacheFirst(request, url));
  else if (kind === "page") event.respondWith(networkFirst(event));
  else if (kind === "audio") event.respondWith(audioFirst(request));
});

// The page asks to keep its own addresses (the page, its definition, its manifest): on the first
// visit the worker was not there yet when they were loaded.
function warm(urls) {
  var wanted = (Array.isArray(urls) ? urls : []).filter(function (u) {
    try {
      return kindOf(new URL(u, self.location.href)) === "page";
    } catch (e) {
      return false;
    }
  }).map(function (u) { return new URL(u, self.location.href).href; });
  return Promise.all(wanted.map(function (url) {
    return fetch(url, { cache: "no-store", credentials: "omit" }).then(function (response) {
      return keep(url, response);
    }).catch(function () { return false; });
  })).then(function () {
    var definitions = wanted.filter(function (u) { return /\/definition$/.test(new URL(u).pathname); });
    return Promise.all(definitions.map(warmAudio)).then(function (lists) {
      var audioMissing = [].concat.apply([], lists);
      return Promise.all(wanted.map(savedCopy)).then(function (copies) {
        return caches.open(STATIC_CACHE).then(function (cache) {
          return Promise.all(ASSETS.map(function (u) { return cache.match(u); }));
        }).then(function (assets) {
          var missing = wanted.filter(function (u, i) { return !copies[i]; });
          var assetsMissing = ASSETS.filter(function (u, i) { return !assets[i]; });
          return {
            type: "warmed",
            version: VERSION,
            ready: missing.length === 0 && assetsMissing.length === 0 && audioMissing.length === 0,
            missing: missing.concat(assetsMissing, audioMissing)
          };
        });
      });
    });
  });
}

self.addEventListener("message", function (event) {
  var data = event.data || {};
  var port = event.ports && event.ports[0];
  if (!port) return;
  if (data.type === "warm") {
    event.waitUntil(warm(data.urls).then(function (reply) { port.postMessage(reply); }, function (error) {
      port.postMessage({ type: "warmed", version: VERSION, ready: false, error: String(error) });
    }));
  } else if (data.type === "version") {
    port.postMessage({ type: "version", version: VERSION });
  }
});
