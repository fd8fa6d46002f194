/*
 * Kenshu tour builder: place stops by clicking on the map, hotspots by clicking on a
 * panorama. Both only fill in the forms' number fields (which also work by keyboard,
 * without this script); the server checks and saves.
 *
 *   [data-builder-map]  the map image; a click sets [data-add-stop] [data-x]/[data-y] to
 *       fractions of its width and height. Markers (.builder-marker, data-x/data-y) are
 *       placed with CSSOM (no inline style attribute: the CSP forbids them).
 *   [data-builder-panorama]  data-src/data-preview; a click sets the stop's
 *       [data-add-hotspot] [data-yaw]/[data-pitch] in degrees.
 *   [data-tour-clip-upload]  a resumable clip upload (js/upload.js does the upload). For
 *       a new video stop it replaces the form's one-request file field, and the stop's
 *       title and place go into its data-create-url. Once the clip is uploaded (the
 *       stop exists, its clip being processed) the builder is shown again.
 */
(function () {
  "use strict";

  // Photo Sphere Viewer writes tooltip content as HTML: hand it the text escaped.
  function escapeHtml(text) {
    var holder = document.createElement("div");
    holder.textContent = text || "";
    return holder.innerHTML;
  }

  function startClipUploads() {
    var form = document.querySelector("[data-add-stop]");
    var widget = document.querySelector("[data-tour-clip-upload][data-new-stop]");
    if (form && widget) {
      var kind = form.querySelector("select[name=kind]");
      var base = widget.dataset.createUrl;
      var oneRequest = form.querySelectorAll("[data-one-request]");
      var sync = function () {
        var video = kind.value === "video";
        widget.hidden = !video;
        Array.prototype.forEach.call(oneRequest, function (element) {
          element.hidden = video;
          var input = element.querySelector("input[type=file]");
          if (input) input.required = !video;
        });
        var url = new URL(base, window.location.href);
        ["title", "x", "y"].forEach(function (name) {
          url.searchParams.set(name, form.querySelector("[name=" + name + "]").value);
        });
        widget.dataset.createUrl = url.pathname + url.search;
      };
      form.addEventListener("input", sync);
      form.addEventListener("change", sync);
      sync();
    }
    Array.prototype.forEach.call(document.querySelectorAll("[data-tour-clip-upload]"), function (root) {
      var line = root.querySelector("[data-upload-status]");
      var processing = (root.dataset.msgProcessing || "").split("{percent}")[0];
      var ready = root.dataset.msgReady;
      new MutationObserver(function () {
        var text = line.textContent;
        if (text === ready || (processing && text.indexOf(processing) === 0)) {
          window.location.assign(root.dataset.doneUrl);
        }
      }).observe(line, { childList: true, characterData: true, subtree: true });
    });
  }
  startClipUploads();

  function place(marker, x, y) {
    marker.style.insetInlineStart = "auto";
    marker.style.left = x * 100 + "%";
    marker.style.top = y * 100 + "%";
  }

  var map = document.querySelector("[data-builder-map]");
  if (map) {
    Array.prototype.forEach.call(map.querySelectorAll(".builder-marker[data-x]"), function (m) {
      place(m, parseFloat(m.dataset.x), parseFloat(m.dataset.y));
    });
    var image = map.querySelector("[data-builder-map-image]");
    var form = document.querySelector("[data-add-stop]");
    var marker = map.querySelector("[data-builder-new]");
    image.addEventListener("click", function (event) {
      var box = image.getBoundingClientRect();
      var x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      var y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
      form.querySelector("[data-x]").value = x.toFixed(3);
      form.querySelector("[data-y]").value = y.toFixed(3);
      place(marker, x, y);
      marker.hidden = false;
      var title = form.querySelector("input[name=title]");
      if (title) title.focus();
    });
  }

  function degrees(radians) {
    var value = (radians * 180) / Math.PI;
    if (value > 180) value -= 360;
    return value.toFixed(1);
  }

  function startPanorama(container) {
    var library = window.KenshuPanorama;
    if (!library) return;
    var stop = container.closest("[data-builder-stop]");
    var form = stop.querySelector("[data-add-hotspot]");
    var spots = Array.prototype.map.call(container.querySelectorAll("li[data-hotspot]"), function (li) {
      var element = document.createElement("span");
      element.className = "tour-marker tour-marker-" + li.dataset.kind;
      element.textContent = li.dataset.kind === "stop" ? "→" : "i";
      return {
        id: li.dataset.hotspot,
        position: { yaw: li.dataset.yaw + "deg", pitch: li.dataset.pitch + "deg" },
        element: element,
        size: { width: 36, height: 36 },
        anchor: "center center",
        tooltip: escapeHtml(li.dataset.label)
      };
    });
    var fallback = container.querySelector(".tour-panorama-fallback");
    var viewer = new library.Viewer({
      container: container,
      panorama: container.dataset.preview || container.dataset.src,
      navbar: ["zoom", "move"],
      keyboard: false,
      mousewheel: false,
      defaultZoomLvl: 30,
      plugins: [[library.MarkersPlugin, { markers: spots }]]
    });
    if (fallback) fallback.remove();
    var markers = viewer.getPlugin(library.MarkersPlugin);
    viewer.addEventListener("ready", function () {
      container.setAttribute("data-viewer", "ready");
    });
    viewer.addEventListener("click", function (event) {
      var data = event.data;
      form.querySelector("[data-yaw]").value = degrees(data.yaw);
      form.querySelector("[data-pitch]").value = degrees(data.pitch);
      var element = document.createElement("span");
      element.className = "tour-marker tour-marker-new";
      element.textContent = "+";
      try {
        markers.removeMarker("new", false);
      } catch (e) {
        // no marker placed yet
      }
      markers.addMarker({
        id: "new",
        position: { yaw: data.yaw, pitch: data.pitch },
        element: element,
        size: { width: 36, height: 36 },
        anchor: "center center"
      });
    });
    container.addEventListener("focus", function () { viewer.startKeyboardControl(); });
    container.addEventListener("blur", function () { viewer.stopKeyboardControl(); });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-builder-panorama]"), startPanorama);
  }
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
