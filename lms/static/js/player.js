/*
 * Kenshu lesson page: the video player's extras, and readings and handouts marked done.
 *
 * Load it with <script src=".../js/player.js" defer></script> after heartbeat.js (which
 * records what is watched and resumes where the trainee stopped). Everything here is an
 * enhancement: without JavaScript the page still plays the lowest rendition with its
 * subtitles, and a reading has a "Mark as done" form.
 *
 * Video (a [data-player] element holding the <video>):
 *   - rendition: the trainee's saved choice (localStorage), else "automatic": the
 *     highest rendition whose bit rate fits 2/3 of the measured bandwidth and whose
 *     height the screen can show. Bandwidth is navigator.connection.downlink where the
 *     browser has it, else the time the first 256 KB of the lowest rendition take
 *     (given up after 4 s: then the lowest). Data Saver means the lowest.
 *     [data-player-quality] is a <select> of the renditions and "audio only" (its
 *     options carry data-src, data-type, data-bitrate, data-height); switching keeps the
 *     time, the speed and whether it was playing. "Automatic" steps down one rendition
 *     when playback stalls for 4 s;
 *   - speed: [data-player-speed], 0.75x to 2x (the server credits at most 2x), saved;
 *   - transcript: [data-transcript] holds <button data-start="seconds"> lines; a click
 *     seeks there, and the line being spoken is highlighted (aria-current);
 *   - progress: [data-lesson-progress] shows the status and the share watched, updated
 *     from heartbeat.js's "kenshu:progress" events.
 * Reading: [data-reading-end] at the end of the text; once it has been in view for a
 *   second, POST to its data-done-url (X-CSRFToken header), retried when back online.
 * Document: links marked [data-opens-document] go through a server endpoint that marks
 *   the lesson done; the status is refreshed a moment after a click.
 */
(function () {
  "use strict";

  var QUALITY_KEY = "kenshu.player.quality";
  var SPEED_KEY = "kenshu.player.speed";
  var PROBE_BYTES = 256 * 1024;
  var PROBE_TIMEOUT_MS = 4000;
  var HEADROOM = 1.5; // a rendition needs 1.5x its bit rate to play without stalling
  var READING_DWELL_MS = 1000;
  var STALL_MS = 4000; // "automatic" steps down a rendition after a stall this long

  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function save(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (e) {
      /* private mode or full: the choice lasts for this page only */
    }
  }

  function locale() {
    return document.documentElement.getAttribute("lang") || undefined;
  }

  function percent(share) {
    var value = Math.floor(Math.max(0, Math.min(1, share || 0)) * 100 + 1e-9) / 100;
    try {
      return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 0 }).format(
        value
      );
    } catch (e) {
      return Math.round(value * 100) + "%";
    }
  }

  // --- the status and share shown on the page -------------------------------------------

  function showProgress(progress) {
    var box = document.querySelector("[data-lesson-progress]");
    if (!box || !progress || !progress.status) return;
    var status = progress.status;
    if (box.getAttribute("data-status") !== status) {
      box.setAttribute("data-status", status);
      var badge = box.querySelector("[data-progress-status]");
      var label = box.querySelector("[data-progress-label]");
      var key = "label" + status.replace(/(^|_)([a-z])/g, function (m, sep, c) {
        return c.toUpperCase();
      });
      if (badge) badge.className = "status status-" + status.replace(/_/g, "-");
      if (label && box.dataset[key]) label.textContent = box.dataset[key];
    }
    if (typeof progress.share === "number") {
      var bar = box.querySelector("progress");
      var text = box.querySelector("[data-progress-share]");
      var value = Math.floor(progress.share * 100 + 1e-9);
      if (bar) {
        bar.value = value;
        bar.textContent = percent(progress.share);
      }
      if (text && text.dataset.template) {
        text.textContent = text.dataset.template.replace("{share}", percent(progress.share));
      }
    }
    if (status === "done") {
      var form = document.querySelector("[data-mark-done]");
      if (form) form.hidden = true;
    }
  }

  function csrfToken(element) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return (element && element.dataset.csrfToken) || (meta && meta.getAttribute("content")) || "";
  }

  // --- renditions ---------------------------------------------------------------------------

  function renditionsOf(select) {
    var list = [];
    for (var i = 0; i < select.options.length; i++) {
      var option = select.options[i];
      if (!option.dataset.src) continue;
      list.push({
        name: option.value,
        src: option.dataset.src,
        type: option.dataset.type || "",
        bitrate: parseInt(option.dataset.bitrate || "0", 10) || 0,
        height: parseInt(option.dataset.height || "0", 10) || 0,
        label: option.dataset.name || option.value,
        audio: option.value === "audio",
      });
    }
    return list;
  }

  // Bits per second the connection carries: the browser's estimate, or a timed download
  // of the start of the lowest rendition; 0 when unknown (then the lowest is played).
  function measureBandwidth(url) {
    var connection = navigator.connection || navigator.mozConnection || navigator.webkitConnection;
    if (connection && connection.saveData) return Promise.resolve(0);
    if (connection && connection.downlink > 0) return Promise.resolve(connection.downlink * 1e6);
    if (!window.fetch || !url || navigator.onLine === false) return Promise.resolve(0);
    var controller = window.AbortController ? new AbortController() : null;
    var timer = window.setTimeout(function () {
      if (controller) controller.abort();
    }, PROBE_TIMEOUT_MS);
    var started = performance.now();
    return window
      .fetch(url, {
        headers: { Range: "bytes=0-" + (PROBE_BYTES - 1) },
        cache: "no-store",
        signal: controller ? controller.signal : undefined,
      })
      .then(function (response) {
        if (!response.ok) return 0;
        return response.arrayBuffer().then(function (body) {
          var seconds = Math.max(0.001, (performance.now() - started) / 1000);
          return (body.byteLength * 8) / seconds;
        });
      })
      .catch(function () {
        return 0;
      })
      .then(function (bps) {
        window.clearTimeout(timer);
        return bps;
      });
  }

  // The best video rendition for this bandwidth and this screen (never audio only).
  function pickRendition(renditions, bps, video) {
    var videos = renditions.filter(function (r) {
      return !r.audio;
    });
    if (!videos.length) return null;
    var width = video.clientWidth || window.innerWidth || 640;
    var needed = Math.ceil(((width * (window.devicePixelRatio || 1)) * 9) / 16);
    var cap = Infinity; // the smallest height that fills the screen; nothing above it
    videos.forEach(function (r) {
      if (r.height >= needed && r.height < cap) cap = r.height;
    });
    var chosen = videos[0];
    videos.forEach(function (r) {
      if (r.bitrate * HEADROOM <= bps && (!r.height || r.height <= cap)) chosen = r;
    });
    return chosen;
  }

  function setupPlayer(root) {
    var video = root.querySelector("video");
    var controls = root.querySelector("[data-player-controls]");
    var quality = root.querySelector("[data-player-quality]");
    var speed = root.querySelector("[data-player-speed]");
    var playing = root.querySelector("[data-player-playing]");
    if (!video) return;
    if (controls) controls.hidden = false;

    // Speed first: a rendition switch below restores it.
    var wantedRate = 1;
    if (speed) {
      var savedRate = load(SPEED_KEY);
      var known = Array.prototype.some.call(speed.options, function (option) {
        return option.value === savedRate;
      });
      if (savedRate && known) {
        speed.value = savedRate;
        wantedRate = parseFloat(savedRate);
        video.defaultPlaybackRate = wantedRate;
        video.playbackRate = wantedRate;
      }
      speed.addEventListener("change", function () {
        wantedRate = parseFloat(speed.value) || 1;
        video.defaultPlaybackRate = wantedRate;
        video.playbackRate = wantedRate;
        save(SPEED_KEY, String(wantedRate));
      });
    }
    video.addEventListener("ratechange", function () {
      if (video.readyState === 0) return; // a new source starting: not the trainee's choice
      wantedRate = video.playbackRate || wantedRate;
      if (!speed) return;
      var value = String(video.playbackRate);
      var listed = Array.prototype.some.call(speed.options, function (option) {
        return option.value === value;
      });
      if (listed) speed.value = value;
    });

    var renditions = quality ? renditionsOf(quality) : [];
    var current = null; // the rendition playing, once chosen here
    var userTouched = false; // the trainee chose, or started playing, before "auto" decided

    function showPlaying(rendition) {
      if (rendition) root.setAttribute("data-rendition", rendition.name);
      if (!playing) return;
      playing.textContent =
        rendition && playing.dataset.template
          ? playing.dataset.template.replace("{quality}", rendition.label)
          : "";
    }

    // Play another file from the same moment, at the same speed, playing if it was.
    function use(rendition) {
      if (!rendition || (current && current.src === rendition.src)) {
        showPlaying(rendition || current);
        return;
      }
      var time = video.currentTime;
      var wasPlaying = !video.paused && !video.ended;
      current = rendition;
      root.classList.toggle("audio-only", !!rendition.audio);
      video.defaultPlaybackRate = wantedRate; // a new source starts at the default rate
      video.src = rendition.src; // the src attribute wins over the <source> elements
      video.addEventListener(
        "loadedmetadata",
        function () {
          video.playbackRate = wantedRate;
          // heartbeat.js may already have sought to the resume point on this source
          if (time > 0.5 && Math.abs(video.currentTime - time) > 0.5) video.currentTime = time;
          if (wasPlaying) {
            var promise = video.play();
            if (promise && promise.catch) promise.catch(function () {});
          }
        },
        { once: true }
      );
      showPlaying(rendition);
    }

    function byName(name) {
      for (var i = 0; i < renditions.length; i++) if (renditions[i].name === name) return renditions[i];
      return null;
    }

    if (quality && renditions.length) {
      var saved = load(QUALITY_KEY);
      if (saved && saved !== "auto" && byName(saved)) {
        quality.value = saved;
        use(byName(saved));
        root.setAttribute("data-quality-ready", "");
      } else {
        quality.value = "auto";
        var lowest = renditions.filter(function (r) {
          return !r.audio;
        })[0];
        showPlaying(lowest);
        video.addEventListener("play", function () {
          userTouched = true;
        });
        measureBandwidth(lowest && lowest.src).then(function (bps) {
          root.setAttribute("data-quality-ready", "");
          if (quality.value !== "auto") return;
          var best = pickRendition(renditions, bps, video);
          // Once the trainee is watching, do not interrupt them for a better picture.
          if (userTouched && best !== lowest) {
            showPlaying(current || lowest);
            return;
          }
          current = current || lowest;
          use(best);
        });
      }
      quality.addEventListener("change", function () {
        userTouched = true;
        save(QUALITY_KEY, quality.value);
        if (quality.value === "auto") {
          measureBandwidth(renditions[0].src).then(function (bps) {
            if (quality.value === "auto") use(pickRendition(renditions, bps, video));
          });
        } else {
          use(byName(quality.value));
        }
      });
    }

    // Automatic quality that stalls for long (the connection got worse): one step down.
    var stallTimer = null;
    video.addEventListener("waiting", function () {
      if (!quality || quality.value !== "auto" || stallTimer) return;
      stallTimer = window.setTimeout(function () {
        stallTimer = null;
        if (quality.value !== "auto" || video.paused || navigator.onLine === false) return;
        var videos = renditions.filter(function (r) {
          return !r.audio;
        });
        var index = videos.indexOf(current || videos[0]);
        if (index > 0) use(videos[index - 1]);
      }, STALL_MS);
    });
    video.addEventListener("playing", function () {
      window.clearTimeout(stallTimer);
      stallTimer = null;
    });

    setupTranscript(root, video);
    video.addEventListener("kenshu:progress", function (event) {
      showProgress(event.detail);
    });
  }

  // --- the transcript -------------------------------------------------------------------

  function setupTranscript(root, video) {
    var list = root.querySelector("[data-transcript]");
    if (!list) return;
    var buttons = Array.prototype.slice.call(list.querySelectorAll("button[data-start]"));
    var starts = buttons.map(function (button) {
      return parseFloat(button.dataset.start) || 0;
    });
    var active = -1;

    list.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-start]") : null;
      if (!button) return;
      video.currentTime = parseFloat(button.dataset.start) || 0;
      highlight(video.currentTime);
    });

    function lineAt(time) {
      var low = 0;
      var high = starts.length - 1;
      var found = -1;
      while (low <= high) {
        var mid = (low + high) >> 1;
        if (starts[mid] <= time + 0.05) {
          found = mid;
          low = mid + 1;
        } else {
          high = mid - 1;
        }
      }
      return found;
    }

    // Keep the line in view inside the transcript's own scroll box (never scroll the page).
    function reveal(button) {
      if (list.scrollHeight <= list.clientHeight) return;
      var box = list.getBoundingClientRect();
      var line = button.getBoundingClientRect();
      if (line.top < box.top || line.bottom > box.bottom) {
        list.scrollTop += line.top - box.top - (box.height - line.height) / 2;
      }
    }

    function highlight(time) {
      var index = lineAt(time);
      if (index === active) return;
      if (active >= 0) {
        buttons[active].classList.remove("is-current");
        buttons[active].removeAttribute("aria-current");
      }
      active = index;
      if (index >= 0) {
        buttons[index].classList.add("is-current");
        buttons[index].setAttribute("aria-current", "true");
        reveal(buttons[index]);
      }
    }

    video.addEventListener("timeupdate", function () {
      highlight(video.currentTime);
    });
    video.addEventListener("seeked", function () {
      highlight(video.currentTime);
    });
  }

  // --- readings and documents -----------------------------------------------------------

  function setupReading(sentinel) {
    if (sentinel.hasAttribute("data-done")) return;
    var url = sentinel.dataset.doneUrl;
    var sent = false;
    var timer = null;

    function markDone() {
      if (sent) return;
      sent = true;
      window
        .fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": csrfToken(sentinel) },
        })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (progress) {
          sentinel.setAttribute("data-done", "");
          showProgress(progress);
        })
        .catch(function () {
          sent = false; // offline or refused: try again when the connection is back
          window.addEventListener("online", markDone, { once: true });
        });
    }

    if (!("IntersectionObserver" in window) || !window.fetch) return; // the form remains
    var observer = new IntersectionObserver(function (entries) {
      var visible = entries.some(function (entry) {
        return entry.isIntersecting;
      });
      if (visible && !timer) {
        timer = window.setTimeout(function () {
          observer.disconnect();
          markDone();
        }, READING_DWELL_MS);
      } else if (!visible && timer) {
        window.clearTimeout(timer);
        timer = null;
      }
    });
    observer.observe(sentinel);
  }

  function setupDocuments() {
    var links = document.querySelectorAll("[data-opens-document]");
    var box = document.querySelector("[data-lesson-progress]");
    if (!links.length || !box || !box.dataset.progressUrl || !window.fetch) return;
    // The server marks the lesson done on the way to the file: show it a moment later.
    function refresh() {
      window
        .fetch(box.dataset.progressUrl, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (progress) {
          if (progress) showProgress(progress);
        })
        .catch(function () {});
    }
    Array.prototype.forEach.call(links, function (link) {
      link.addEventListener("click", function () {
        window.setTimeout(refresh, 1500);
      });
    });
  }

  function start() {
    var players = document.querySelectorAll("[data-player]");
    for (var i = 0; i < players.length; i++) setupPlayer(players[i]);
    var ends = document.querySelectorAll("[data-reading-end]");
    for (var j = 0; j < ends.length; j++) setupReading(ends[j]);
    setupDocuments();
  }

  window.KenshuPlayer = { pickRendition: pickRendition, measureBandwidth: measureBandwidth };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
