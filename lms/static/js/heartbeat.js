/*
 * Kenshu heartbeat: honest, never-lost progress for the lesson player.
 *
 * Load it with <script src=".../js/heartbeat.js" defer></script>. It starts by itself
 * for every <video data-beat-url="..."> on the page; the element's data attributes:
 *
 *   data-lesson-id     the lesson id (used to build the URLs when they are not given)
 *   data-beat-url      POST /api/v1/lessons/<id>/beats
 *   data-progress-url  GET  /api/v1/lessons/<id>/progress (default: derived from the above)
 *   data-csrf-token    the page's CSRF token (default: <meta name="csrf-token">)
 *   data-user-id       optional: queued beats are only ever sent for this user
 *
 * What it does:
 *   - tracks the stretches of media time really played: a stretch opens when playback
 *     runs and closes on pause, seek, end, rate change, source change, or a jump of the
 *     playhead that wall time cannot explain; seeking never counts as watching;
 *   - sends a beat (the stretches since the last beat, the position, a playback session
 *     id made on page load, a sequence number, the playback rate and the client clock)
 *     every 15 s while playing and on pause, seek, end, and page hide;
 *   - keeps every beat in localStorage (one key per beat, so two tabs never overwrite
 *     each other's queue) until the server has answered it, sends the queue in order
 *     when back online, and uses navigator.sendBeacon when the page is hidden or closed
 *     (beacons cannot set headers: the CSRF token travels in the JSON body). A beat sent
 *     twice is harmless: the server ignores a sequence number it has already seen;
 *   - on load, asks the server where to resume and seeks there.
 * It fires a "kenshu:progress" event on the <video> with the server's answer (detail:
 * {status, position, watched_seconds, duration, share, ...}) after each delivered beat.
 */
(function () {
  "use strict";

  var BEAT_EVERY_MS = 15000;
  var QUEUE_PREFIX = "kenshu.beat.";
  var MAX_INTERVALS = 50; // send early rather than exceed the server's limit (100)
  var JUMP_SLACK = 1.5; // seconds the playhead may run ahead of wall time x rate
  var RETRY_MIN_MS = 2000;
  var RETRY_MAX_MS = 60000;

  // --- the queue: one localStorage key per beat, memory when storage is unavailable ----

  var memory = {};

  function storage() {
    try {
      var probe = QUEUE_PREFIX + "probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null; // private mode, disabled, or full
    }
  }

  var store = storage();

  function itemKey(item) {
    return QUEUE_PREFIX + item.body.session + "." + ("0000000000" + item.body.seq).slice(-10);
  }

  var queue = {
    put: function (item) {
      var key = itemKey(item);
      memory[key] = item;
      if (store) {
        try {
          store.setItem(key, JSON.stringify(item));
        } catch (e) {
          /* storage full: the beat is still sent from memory */
        }
      }
    },
    remove: function (item) {
      var key = itemKey(item);
      delete memory[key];
      if (store) {
        try {
          store.removeItem(key);
        } catch (e) {
          /* ignore */
        }
      }
    },
    all: function (user) {
      var items = {};
      var key;
      for (key in memory) {
        if (Object.prototype.hasOwnProperty.call(memory, key)) items[key] = memory[key];
      }
      if (store) {
        for (var i = 0; i < store.length; i++) {
          key = store.key(i);
          if (key && key.indexOf(QUEUE_PREFIX) === 0 && !items[key]) {
            try {
              items[key] = JSON.parse(store.getItem(key));
            } catch (e) {
              store.removeItem(key);
            }
          }
        }
      }
      var list = [];
      for (key in items) {
        var item = items[key];
        if (item && item.url && item.body && (user === null || item.user === user)) {
          list.push(item);
        }
      }
      // in the order the beats were made: client time, then sequence number
      list.sort(function (a, b) {
        return (a.body.t || 0) - (b.body.t || 0) || a.body.seq - b.body.seq;
      });
      return list;
    },
  };

  // --- sending ----------------------------------------------------------------------------

  var csrfToken = "";
  var currentUser = null;
  var flushing = false;
  var retryTimer = null;
  var retryDelay = RETRY_MIN_MS;
  var listeners = {}; // playback session id -> function(progress)

  function retryLater(ms) {
    if (retryTimer) return;
    var delay = ms || retryDelay;
    retryDelay = Math.min(RETRY_MAX_MS, retryDelay * 2);
    retryTimer = window.setTimeout(function () {
      retryTimer = null;
      flush();
    }, delay);
  }

  // Statuses that will never succeed on a retry: the beat is dropped (bad input,
  // no longer allowed, lesson gone, session clash). Others (network errors, 5xx,
  // 401 signed out, 408, 429) keep it queued.
  function isFinal(status) {
    return status >= 200 && status < 500 && status !== 401 && status !== 408 && status !== 429;
  }

  function flush() {
    if (flushing || navigator.onLine === false) return Promise.resolve();
    flushing = true;
    var items = queue.all(currentUser);
    var index = 0;

    function next() {
      if (index >= items.length) {
        retryDelay = RETRY_MIN_MS;
        return Promise.resolve();
      }
      var item = items[index++];
      return window
        .fetch(item.url, {
          method: "POST",
          credentials: "same-origin",
          keepalive: true,
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
          body: JSON.stringify(item.body),
        })
        .then(
          function (response) {
            if (!isFinal(response.status)) {
              var wait = parseInt(response.headers.get("Retry-After") || "", 10);
              retryLater(wait > 0 ? wait * 1000 : 0);
              return null;
            }
            queue.remove(item);
            if (response.ok && listeners[item.body.session]) {
              response
                .json()
                .then(function (data) {
                  if (data && data.progress) listeners[item.body.session](data.progress);
                })
                .catch(function () {});
            }
            return next();
          },
          function () {
            retryLater(0); // offline or the connection dropped: keep everything queued
            return null;
          }
        );
    }

    function done() {
      flushing = false;
      // beats made while this flush was running go now, unless a retry is already due
      if (retryTimer) return;
      var tried = {};
      for (var i = 0; i < items.length; i++) tried[itemKey(items[i])] = true;
      var fresh = queue.all(currentUser).filter(function (item) {
        return !tried[itemKey(item)];
      });
      if (fresh.length) flush();
    }

    return next().then(done, done);
  }

  // The page is being hidden or closed: a fetch may be cancelled, a beacon is not.
  // Everything still queued for this user goes, in order; it stays queued too (we
  // never learn whether a beacon arrived), and a later flush repeats it harmlessly.
  function beaconAll() {
    if (!navigator.sendBeacon || navigator.onLine === false) return;
    var items = queue.all(currentUser);
    for (var i = 0; i < items.length && i < 60; i++) {
      var body = {};
      for (var name in items[i].body) body[name] = items[i].body[name];
      body.csrf_token = csrfToken; // beacons cannot send the X-CSRFToken header
      try {
        if (!navigator.sendBeacon(items[i].url, JSON.stringify(body))) break;
      } catch (e) {
        break;
      }
    }
  }

  // --- one player -----------------------------------------------------------------------

  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID(); // secure contexts only
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = "";
    for (var i = 0; i < 16; i++) hex += (bytes[i] + 0x100).toString(16).slice(1);
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join(
      "-"
    );
  }

  function seconds(value) {
    return Math.round(value * 1000) / 1000;
  }

  function track(video) {
    if (video.dataset.heartbeat === "on") return null;
    video.dataset.heartbeat = "on";
    var lessonId = video.dataset.lessonId;
    var beatUrl = video.dataset.beatUrl || "/api/v1/lessons/" + lessonId + "/beats";
    var progressUrl = video.dataset.progressUrl || beatUrl.replace(/\/beats$/, "/progress");
    var meta = document.querySelector('meta[name="csrf-token"]');
    csrfToken = video.dataset.csrfToken || (meta && meta.getAttribute("content")) || csrfToken;
    currentUser = video.dataset.userId || null;

    var sessionId = uuid4();
    var seq = 0;
    var start = null; // media time where the stretch being played began
    var lastTime = 0; // the playhead at the last check, and the wall clock then
    var lastWall = 0;
    var pending = []; // stretches closed since the last beat: [[start, end], ...]
    var positionKnown = false; // never overwrite the saved position with a 0 before resuming
    var lastSentPosition = null;
    var timer = null;

    listeners[sessionId] = function (progress) {
      var event;
      try {
        event = new CustomEvent("kenshu:progress", { detail: progress });
      } catch (e) {
        return; // very old browsers: no event, progress is still recorded
      }
      video.dispatchEvent(event);
    };

    function open(at) {
      start = at;
      lastTime = at;
      lastWall = performance.now();
    }

    function close(end) {
      if (start !== null && end > start) pending.push([seconds(start), seconds(end)]);
      start = null;
    }

    // The playhead now, if playing got it there; else where it was last seen, closing
    // the stretch (a jump that wall time x rate cannot explain is a seek, not watching).
    function closeNow() {
      if (start === null) return;
      var now = video.currentTime;
      var elapsed = (performance.now() - lastWall) / 1000;
      var plausible = elapsed * Math.max(video.playbackRate || 1, 0.1) + JUMP_SLACK;
      close(now >= lastTime && now - lastTime <= plausible ? now : lastTime);
    }

    function playing() {
      return !video.paused && !video.ended && !video.seeking;
    }

    function beat(options) {
      var force = options && options.force;
      var position = positionKnown ? seconds(video.currentTime) : null;
      if (!force && pending.length === 0 && position === lastSentPosition) return;
      var body = {
        session: sessionId,
        seq: seq++,
        intervals: pending,
        rate: video.playbackRate || 1,
        t: Date.now(),
      };
      if (position !== null) body.position = position;
      pending = [];
      lastSentPosition = position;
      queue.put({ url: beatUrl, user: currentUser, body: body });
      if (options && options.beacon) beaconAll();
      else flush();
    }

    function tick() {
      if (!playing()) return;
      closeNow();
      open(video.currentTime);
      beat();
    }

    video.addEventListener("playing", function () {
      positionKnown = true;
      if (start === null) open(video.currentTime);
      if (!timer) timer = window.setInterval(tick, BEAT_EVERY_MS);
    });
    video.addEventListener("timeupdate", function () {
      if (!playing()) return;
      if (start === null) {
        open(video.currentTime);
        return;
      }
      var now = video.currentTime;
      var elapsed = (performance.now() - lastWall) / 1000;
      var plausible = elapsed * Math.max(video.playbackRate || 1, 0.1) + JUMP_SLACK;
      if (now < lastTime || now - lastTime > plausible) {
        close(lastTime); // a jump nobody announced: what lies between was not watched
        open(now);
      } else {
        lastTime = now;
        lastWall = performance.now();
      }
      if (pending.length >= MAX_INTERVALS) beat();
    });
    video.addEventListener("seeking", function () {
      close(lastTime); // currentTime is already the target: end where we last saw it
      beat();
    });
    video.addEventListener("seeked", function () {
      if (video.readyState > 0) positionKnown = true;
      if (playing()) open(video.currentTime);
      else lastTime = video.currentTime;
    });
    video.addEventListener("pause", function () {
      closeNow();
      if (timer) {
        window.clearInterval(timer);
        timer = null;
      }
      beat();
    });
    video.addEventListener("ended", function () {
      closeNow();
      beat();
    });
    video.addEventListener("ratechange", function () {
      if (!playing()) return;
      closeNow();
      open(video.currentTime);
    });
    video.addEventListener("emptied", function () {
      close(lastTime); // the source changed (another rendition): start a new stretch
    });

    function hide() {
      if (playing()) {
        closeNow();
        open(video.currentTime); // audio may go on playing in the background
      }
      beat({ beacon: true });
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") hide();
      else flush();
    });
    window.addEventListener("pagehide", hide);

    // The first beat anchors the session on the server's clock (see tracking.py): sent
    // at once, while the page has just come over the network. No position yet.
    beat({ force: true });

    // Resume where the trainee stopped, on any device, unless they already started.
    function resumeAt(position) {
      if (!(position > 0) || video.played.length > 0 || video.currentTime > 0.5) {
        positionKnown = positionKnown || video.currentTime === 0;
        return;
      }
      if (video.readyState >= 1) video.currentTime = position;
      else
        video.addEventListener(
          "loadedmetadata",
          function () {
            if (video.played.length === 0) video.currentTime = position;
          },
          { once: true }
        );
    }
    if (navigator.onLine !== false) {
      window
        .fetch(progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (progress) {
          if (progress) resumeAt(progress.position);
        })
        .catch(function () {});
    }

    return {
      sessionId: sessionId,
      flush: flush,
      beat: function () {
        closeNow();
        if (playing()) open(video.currentTime);
        beat({ force: true });
      },
    };
  }

  window.addEventListener("online", function () {
    flush();
  });

  function start() {
    var videos = document.querySelectorAll("video[data-beat-url], video[data-lesson-id]");
    for (var i = 0; i < videos.length; i++) track(videos[i]);
    flush(); // whatever earlier pages left queued
  }

  window.KenshuHeartbeat = { track: track, flush: flush };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
