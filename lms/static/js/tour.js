/*
 * Kenshu plant tours: the 360° view of a panorama stop, and visits.
 *
 *   [data-tour-panorama]  data-src (the full panorama), data-preview (a small copy that
 *       loads first on a slow connection). Photo Sphere Viewer (lms/static/vendor/,
 *       from the npm registry) shows it: drag or swipe to look around; once the view
 *       has the focus, the arrow keys turn and + / - zoom. Hotspots come from the list
 *       [data-tour-hotspots] > li (data-yaw, data-pitch in degrees, data-kind "note" or
 *       "stop", data-label, data-href): a note shows its text, a stop link opens it.
 *   [data-tour-visit]  data-visit-url, data-token, data-dwell (seconds): once the stop
 *       has been open and visible that long, POST {token} (X-CSRFToken header); retried
 *       when back online. The server checks the time itself.
 *   [data-tour-video]  a video stop's player (heartbeat.js): its "kenshu:progress"
 *       answers say when the clip has been watched enough.
 * After a visit, the map and the list mark the stop visited and the status line says
 * how many required stops are left, or that the tour is complete.
 */
(function () {
  "use strict";

  // Photo Sphere Viewer writes tooltip content as HTML: hand it the text escaped.
  function escapeHtml(text) {
    var holder = document.createElement("div");
    holder.textContent = text || "";
    return holder.innerHTML;
  }

  var tour = document.querySelector("[data-tour]");
  if (!tour) return;

  // --- the map, the list and the status line ------------------------------------------

  function markVisited(uid) {
    var marker = tour.querySelector('[data-map-stop="' + uid + '"]');
    if (marker) marker.classList.add("visited");
    var item = tour.querySelector('[data-stop-item="' + uid + '"]');
    if (item) {
      item.classList.add("visited");
      var done = item.querySelector("[data-stop-done]");
      if (done) done.hidden = false;
    }
    var stop = tour.querySelector('[data-stop="' + uid + '"] [data-stop-visited]');
    if (stop) stop.hidden = false;
  }

  function showProgress(progress) {
    if (!progress || !progress.visited) return;
    progress.visited.forEach(markVisited);
    var status = tour.querySelector("[data-tour-status]");
    var text = tour.querySelector("[data-tour-status-text]");
    if (!status || !text) return;
    if (progress.done) {
      status.classList.remove("status-in-progress");
      status.classList.add("status-done");
      status.setAttribute("data-done", "");
      text.textContent = tour.dataset.labelDone;
    } else {
      var required = tour.querySelectorAll("[data-stop-item]").length;
      var optional = 0;
      var visitedRequired = 0;
      Array.prototype.forEach.call(tour.querySelectorAll("[data-stop-item]"), function (li) {
        var isOptional = li.hasAttribute("data-optional");
        if (isOptional) optional += 1;
        else if (progress.visited.indexOf(li.getAttribute("data-stop-item")) >= 0) visitedRequired += 1;
      });
      text.textContent = tour.dataset.templateProgress
        .replace("{visited}", String(visitedRequired))
        .replace("{total}", String(required - optional));
    }
  }

  // --- visits of photo and panorama stops ---------------------------------------------------

  function csrfToken(element) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return (element && element.dataset.csrfToken) || (meta && meta.getAttribute("content")) || "";
  }

  function startVisit(element) {
    var dwellMs = (parseFloat(element.dataset.dwell) || 10) * 1000;
    var shownMs = 0;
    var since = document.hidden ? null : Date.now();
    var sent = false;
    var retryMs = 2000;

    function send() {
      if (sent || !window.fetch) return;
      sent = true;
      window
        .fetch(element.dataset.visitUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(element), Accept: "application/json" },
          body: JSON.stringify({ token: element.dataset.token })
        })
        .then(function (response) {
          if (response.status === 409 || response.status >= 500) throw new Error("later");
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (data) {
            element.hidden = true;
            showProgress(data);
          }
        })
        .catch(function () {
          sent = false; // offline or too early: try again a little later
          window.setTimeout(send, retryMs);
          retryMs = Math.min(retryMs * 2, 60000);
        });
    }

    function tick() {
      if (since !== null) {
        shownMs += Date.now() - since;
        since = document.hidden ? null : Date.now();
      } else if (!document.hidden) {
        since = Date.now();
      }
      if (shownMs >= dwellMs) send();
      else window.setTimeout(tick, 500);
    }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden && since !== null) {
        shownMs += Date.now() - since;
        since = null;
      } else if (!document.hidden && since === null) {
        since = Date.now();
      }
    });
    window.addEventListener("online", function () {
      if (shownMs >= dwellMs) send();
    });
    window.setTimeout(tick, 500);
  }

  var visit = tour.querySelector("[data-tour-visit]");
  if (visit) startVisit(visit);

  // --- video stops: the heartbeat's answers ------------------------------------------------

  var video = tour.querySelector("[data-tour-video]");
  if (video) {
    video.addEventListener("kenshu:progress", function (event) {
      var progress = event.detail || {};
      if (progress.tour) showProgress(progress.tour);
      else if (progress.status === "done" && progress.stop) markVisited(progress.stop);
    });
  }

  // --- the 360° view -----------------------------------------------------------------------

  function hotspots(list) {
    if (!list) return [];
    return Array.prototype.map.call(list.querySelectorAll("li[data-hotspot]"), function (li) {
      return {
        uid: li.dataset.hotspot,
        yaw: parseFloat(li.dataset.yaw) || 0,
        pitch: parseFloat(li.dataset.pitch) || 0,
        kind: li.dataset.kind,
        label: li.dataset.label || "",
        href: li.dataset.href || ""
      };
    });
  }

  function markerElement(spot) {
    var element = document.createElement("span");
    element.className = "tour-marker tour-marker-" + spot.kind;
    element.setAttribute("data-marker", spot.uid);
    element.textContent = spot.kind === "stop" ? "→" : "i";
    element.title = spot.label;
    return element;
  }

  function startPanorama(container) {
    var library = window.KenshuPanorama;
    if (!library || !container.dataset.src) return;
    var spots = hotspots(tour.querySelector("[data-tour-hotspots]"));
    var note = tour.querySelector("[data-tour-note]");
    var full = container.dataset.src;
    var preview = container.dataset.preview;
    var fallback = container.querySelector(".tour-panorama-fallback");
    var viewer;
    try {
      viewer = new library.Viewer({
        container: container,
        panorama: preview || full,
        loadingTxt: container.dataset.labelLoading,
        navbar: ["zoom", "move", "fullscreen"],
        keyboard: false, // only while the view has the focus (below), never page-wide
        mousewheel: false, // the page scrolls; zoom with the buttons, pinch or + / -
        touchmoveTwoFingers: false,
        defaultZoomLvl: 30,
        plugins: [
          [
            library.MarkersPlugin,
            {
              markers: spots.map(function (spot) {
                return {
                  id: spot.uid,
                  position: { yaw: spot.yaw + "deg", pitch: spot.pitch + "deg" },
                  element: markerElement(spot),
                  size: { width: 36, height: 36 },
                  anchor: "center center",
                  tooltip: { content: escapeHtml(spot.label), position: "top center" },
                  data: spot
                };
              })
            }
          ]
        ]
      });
    } catch (error) {
      container.setAttribute("data-error", container.dataset.labelError || "");
      return;
    }
    if (fallback) fallback.remove();
    container.setAttribute("data-viewer", "loading");
    viewer.addEventListener("ready", function () {
      container.setAttribute("data-viewer", "ready");
      if (preview && full !== preview) {
        // The small copy is on screen: now fetch the full one and swap it in.
        viewer.setPanorama(full, { transition: false, showLoader: false }).then(function () {
          container.setAttribute("data-viewer", "full");
        });
      } else {
        container.setAttribute("data-viewer", "full");
      }
    });
    viewer.addEventListener("position-updated", function (event) {
      var position = event.position;
      container.setAttribute("data-yaw", String(Math.round((position.yaw * 180) / Math.PI)));
      container.setAttribute("data-pitch", String(Math.round((position.pitch * 180) / Math.PI)));
    });
    container.addEventListener("focus", function () {
      viewer.startKeyboardControl();
    });
    container.addEventListener("blur", function () {
      viewer.stopKeyboardControl();
    });
    var markers = viewer.getPlugin(library.MarkersPlugin);
    if (markers) {
      markers.addEventListener("select-marker", function (event) {
        var spot = event.marker.data || {};
        if (spot.kind === "stop" && spot.href) {
          window.location.assign(spot.href);
        } else if (note) {
          note.textContent = spot.label;
          note.hidden = false;
        }
      });
    }
    window.kenshuPanorama = viewer; // for the browser tests and the curious
  }

  var panorama = tour.querySelector("[data-tour-panorama]");
  if (panorama) {
    if (window.KenshuPanorama) startPanorama(panorama);
    else window.addEventListener("load", function () { startPanorama(panorama); });
  }
})();
