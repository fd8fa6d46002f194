/*
 * Kenshu quiz: answers saved as they are given, kept through a lost connection.
 *
 * Enhances <form data-quiz> (quizzes/attempt.html), which works without it:
 *   - every change to a question (one <fieldset data-position>) is put in a queue in
 *     localStorage, one key per question holding only its newest answer, with a revision
 *     that only grows (the ms clock, never below the last one used or the server's), and
 *     sent as JSON to data-save-url with the X-CSRFToken header. A save the server has
 *     already seen, or an older one, changes nothing there, so resending is harmless;
 *   - while offline (or when a send fails) the queue waits and is sent when the browser
 *     is back online; a reload restores queued answers into the form before sending;
 *   - the status line says "saved", "saving" or "offline - N answers waiting";
 *   - the countdown runs from the time left as the server counted it when the page was
 *     made (the device's clock is never used), and submits the form at 0;
 *   - the submit button sends the form once, however often it is clicked;
 *   - a save refused with 400 and error.code "invalid_answer" is dropped (resending cannot
 *     help); any other 400 is a CSRF failure (the session changed while offline, say): the
 *     answer stays queued and the status line asks to reload the page or sign in again;
 *   - once the attempt is graded (the result page, or sync finding it graded) every key
 *     of the attempt is removed from localStorage.
 */
(function () {
  "use strict";

  // Every key of one attempt: "kenshu.quiz.<user>.<attempt>." + "a.<position>" or "rev".
  function clearAttempt(keyPrefix) {
    try {
      var storage = window.localStorage;
      for (var i = storage.length - 1; i >= 0; i--) {
        var key = storage.key(i);
        if (key && key.indexOf(keyPrefix) === 0) storage.removeItem(key);
      }
    } catch (e) {
      /* no localStorage: nothing was kept */
    }
  }

  var graded = document.querySelector("[data-quiz-graded]");
  if (graded) {
    clearAttempt(
      "kenshu.quiz." + (graded.getAttribute("data-user-id") || "") + "." + graded.getAttribute("data-attempt-id") + "."
    );
  }

  var form = document.querySelector("form[data-quiz]");
  if (!form) return;

  var attemptId = form.getAttribute("data-attempt-id");
  var prefix = "kenshu.quiz." + (form.getAttribute("data-user-id") || "") + "." + attemptId + ".";
  var saveUrl = form.getAttribute("data-save-url");
  var csrf = form.getAttribute("data-csrf-token");
  var statusLine = document.querySelector("[data-quiz-status]");
  var RETRY_MIN_MS = 2000;
  var RETRY_MAX_MS = 30000;

  // --- storage: localStorage, or memory when it is unavailable -------------------------

  var memory = {};
  var store = (function () {
    try {
      window.localStorage.setItem(prefix + "probe", "1");
      window.localStorage.removeItem(prefix + "probe");
      return window.localStorage;
    } catch (e) {
      return null;
    }
  })();

  function getItem(key) {
    return store ? store.getItem(key) : memory[key] === undefined ? null : memory[key];
  }
  function setItem(key, value) {
    if (store) {
      try {
        store.setItem(key, value);
        return;
      } catch (e) {
        /* full: keep it in memory */
      }
    }
    memory[key] = value;
  }
  function removeItem(key) {
    if (store) store.removeItem(key);
    delete memory[key];
  }
  function queuedKeys() {
    var keys = [];
    var k;
    if (store) {
      for (var i = 0; i < store.length; i++) {
        k = store.key(i);
        if (k && k.indexOf(prefix + "a.") === 0) keys.push(k);
      }
    }
    for (k in memory) {
      if (k.indexOf(prefix + "a.") === 0 && keys.indexOf(k) < 0) keys.push(k);
    }
    return keys.sort();
  }
  function readQueued(key) {
    try {
      return JSON.parse(getItem(key));
    } catch (e) {
      return null;
    }
  }

  // --- revisions ----------------------------------------------------------------------

  function nextRevision() {
    var last = parseInt(getItem(prefix + "rev") || "0", 10) || 0;
    var server = parseInt(form.getAttribute("data-max-revision") || "0", 10) || 0;
    var revision = Math.max(Date.now(), last + 1, server + 1);
    setItem(prefix + "rev", String(revision));
    return revision;
  }

  // --- reading and filling one question's fields -----------------------------------------

  function fieldsetOf(position) {
    return form.querySelector('fieldset[data-position="' + position + '"]');
  }
  function ownsName(position, name) {
    var base = "q" + position;
    return name === base || name.indexOf(base + ".") === 0;
  }
  function collect(fieldset) {
    var position = fieldset.getAttribute("data-position");
    var fields = {};
    var controls = fieldset.querySelectorAll("input, select, textarea");
    for (var i = 0; i < controls.length; i++) {
      var control = controls[i];
      if (!control.name || !ownsName(position, control.name)) continue;
      if ((control.type === "radio" || control.type === "checkbox") && !control.checked) continue;
      (fields[control.name] = fields[control.name] || []).push(control.value);
    }
    return fields;
  }
  function fill(fieldset, fields) {
    var position = fieldset.getAttribute("data-position");
    var controls = fieldset.querySelectorAll("input, select, textarea");
    for (var i = 0; i < controls.length; i++) {
      var control = controls[i];
      if (!control.name || !ownsName(position, control.name)) continue;
      var values = fields[control.name] || [];
      if (control.type === "radio" || control.type === "checkbox") {
        control.checked = values.indexOf(control.value) >= 0;
      } else {
        control.value = values.length ? values[0] : "";
      }
    }
  }

  // A saved response (the server's canonical form) as the form's fields.
  function fieldsFor(fieldset, response) {
    var base = "q" + fieldset.getAttribute("data-position");
    var fields = {};
    if (response === null || response === undefined) return fields;
    switch (fieldset.getAttribute("data-type")) {
      case "multiple_response":
        fields[base] = response.map(String);
        break;
      case "matching":
        Object.keys(response).forEach(function (prompt) {
          fields[base + "." + prompt] = [String(response[prompt])];
        });
        break;
      case "ordering":
        response.forEach(function (item, index) {
          fields[base + "." + item] = [String(index + 1)];
        });
        break;
      default:
        fields[base] = [String(response)];
    }
    return fields;
  }

  function setBase(fieldset, revision) {
    fieldset.setAttribute("data-revision", String(revision));
    var base = fieldset.querySelector("[data-quiz-base]");
    if (base) base.value = String(revision);
  }

  // --- the status line ----------------------------------------------------------------

  var sending = false;
  var closed = false;
  var needsReload = false; // a save was refused for its CSRF token: only a reload helps

  function showStatus() {
    if (!statusLine) return;
    var count = queuedKeys().length;
    var label;
    if (closed) label = statusLine.getAttribute("data-label-closed");
    else if (needsReload && count) label = statusLine.getAttribute("data-label-reload");
    else if (count && !navigator.onLine) label = statusLine.getAttribute("data-label-offline");
    else if (sending) label = statusLine.getAttribute("data-label-saving");
    else if (count) label = statusLine.getAttribute("data-label-waiting");
    else label = statusLine.getAttribute("data-label-saved");
    statusLine.textContent = (label || "").replace("{count}", String(count));
    var state = closed ? "closed" : count ? (navigator.onLine ? "waiting" : "offline") : "saved";
    if (!closed && count && needsReload) state = "reload";
    statusLine.setAttribute("data-state", state);
  }

  function showError(position, message) {
    var fieldset = fieldsetOf(position);
    var box = fieldset && fieldset.querySelector("[data-quiz-error]");
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
  }

  // --- the queue ----------------------------------------------------------------------

  function enqueue(fieldset) {
    var position = parseInt(fieldset.getAttribute("data-position"), 10);
    var item = { position: position, revision: nextRevision(), fields: collect(fieldset) };
    // The final form post may now overwrite this answer: it is the newest one.
    var base = fieldset.querySelector("[data-quiz-base]");
    if (base) base.value = String(item.revision);
    setItem(prefix + "a." + ("00000" + position).slice(-5), JSON.stringify(item));
    showError(position, "");
    showStatus();
    flush();
  }

  var retryMs = RETRY_MIN_MS;
  var retryTimer = null;

  function scheduleRetry() {
    if (retryTimer || closed || needsReload) return;
    retryTimer = window.setTimeout(function () {
      retryTimer = null;
      flush();
    }, retryMs);
    retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
  }

  function finishItem(key, item) {
    var now = readQueued(key);
    if (!now || now.revision === item.revision) removeItem(key); // not replaced meanwhile
  }

  function send(key, item) {
    return fetch(saveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(item),
    }).then(function (response) {
      return response.json().then(
        function (body) {
          return { status: response.status, body: body };
        },
        function () {
          return { status: response.status, body: null };
        }
      );
    });
  }

  function isInvalidAnswer(result) {
    return !!(result.body && result.body.error && result.body.error.code === "invalid_answer");
  }

  function message(result) {
    return result.body && result.body.error ? result.body.error.message : "";
  }

  function flush() {
    if (sending || closed) return Promise.resolve();
    if (!navigator.onLine) {
      showStatus();
      return Promise.resolve();
    }
    var keys = queuedKeys();
    if (!keys.length) {
      showStatus();
      return Promise.resolve();
    }
    sending = true;
    showStatus();
    var chain = Promise.resolve(true);
    keys.forEach(function (key) {
      chain = chain.then(function (going) {
        if (!going) return false;
        var item = readQueued(key);
        if (!item) {
          removeItem(key);
          return true;
        }
        return send(key, item).then(
          function (result) {
            if (result.status === 200) {
              needsReload = false;
              finishItem(key, item);
              var fieldset = fieldsetOf(item.position);
              if (fieldset && result.body && result.body.revision === item.revision) {
                setBase(fieldset, item.revision);
              }
              return true;
            }
            if (result.status === 409) {
              // The attempt was submitted or its time is over: nothing more will be saved.
              closed = true;
              showError(item.position, message(result));
              queuedKeys().forEach(removeItem);
              clearAttempt(prefix);
              window.setTimeout(function () {
                window.location.reload();
              }, 3000);
              return false;
            }
            if (result.status === 400 && !isInvalidAnswer(result)) {
              // A CSRF failure (the session cookie changed, e.g. signed out and in while
              // offline): the answer is fine, keep it until the page is reloaded.
              needsReload = true;
              return false;
            }
            if (result.status === 400 || result.status === 413) {
              finishItem(key, item); // a malformed answer never gets better by resending
              showError(item.position, message(result));
              return true;
            }
            return false; // 401/403/5xx: keep it and retry later
          },
          function () {
            return false; // the network: keep it and retry later
          }
        );
      });
    });
    return chain.then(function (allSent) {
      sending = false;
      if (allSent) retryMs = RETRY_MIN_MS;
      if (queuedKeys().length) scheduleRetry();
      showStatus();
    });
  }

  // --- wiring -------------------------------------------------------------------------

  function restore() {
    queuedKeys().forEach(function (key) {
      var item = readQueued(key);
      var fieldset = item && fieldsetOf(item.position);
      if (!fieldset) {
        removeItem(key);
        return;
      }
      if (item.revision > (parseInt(fieldset.getAttribute("data-revision") || "0", 10) || 0)) {
        fill(fieldset, item.fields || {});
      } else {
        removeItem(key); // the server already has this answer or a newer one
      }
    });
  }

  var typingTimers = {};
  function saveTyping() {
    Object.keys(typingTimers).forEach(function (position) {
      if (typingTimers[position] === null) return;
      window.clearTimeout(typingTimers[position]);
      typingTimers[position] = null;
      var fieldset = fieldsetOf(position);
      if (fieldset) enqueue(fieldset);
    });
  }
  function onChange(event) {
    var fieldset = event.target.closest && event.target.closest("fieldset[data-position]");
    if (!fieldset || closed) return;
    var position = fieldset.getAttribute("data-position");
    if (event.type === "input" && event.target.type === "text") {
      window.clearTimeout(typingTimers[position]);
      typingTimers[position] = window.setTimeout(function () {
        typingTimers[position] = null;
        enqueue(fieldset);
      }, 800);
      return;
    }
    window.clearTimeout(typingTimers[position]);
    typingTimers[position] = null;
    enqueue(fieldset);
  }
  form.addEventListener("change", onChange);
  form.addEventListener("input", onChange);

  var submitting = false;
  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var action = submitter ? submitter.value : "submit";
    if (action === "save") {
      event.preventDefault();
      flush();
      return;
    }
    if (submitting) {
      event.preventDefault(); // a double click: the first request is on its way
      return;
    }
    submitting = true;
    var revision = form.querySelector("[data-quiz-revision]");
    if (revision) revision.value = String(nextRevision());
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "action";
    hidden.value = "submit";
    form.appendChild(hidden);
    if (submitter) submitter.setAttribute("aria-disabled", "true");
  });

  window.addEventListener("online", function () {
    retryMs = RETRY_MIN_MS;
    flush();
  });
  window.addEventListener("offline", showStatus);

  // --- the countdown ------------------------------------------------------------------

  var countdown = document.querySelector("[data-quiz-countdown]");
  if (countdown) {
    var remaining = parseFloat(countdown.getAttribute("data-remaining"));
    var startedAt = window.performance.now();
    var timer = window.setInterval(tick, 1000);
    tick();
  }

  function tick() {
    var left = Math.max(0, remaining - (window.performance.now() - startedAt) / 1000);
    var whole = Math.ceil(left);
    var minutes = Math.floor(whole / 60);
    var seconds = whole % 60;
    var hours = Math.floor(minutes / 60);
    countdown.textContent =
      (hours ? hours + ":" + ("0" + (minutes % 60)).slice(-2) : String(minutes)) + ":" + ("0" + seconds).slice(-2);
    if (left <= 3) saveTyping(); // no debounce in the last seconds
    if (left <= 0) {
      window.clearInterval(timer);
      autoSubmit();
    }
  }

  function autoSubmit() {
    if (submitting) return;
    closed = true;
    showStatus();
    // The server grades from what was saved by the deadline; the form only carries the
    // page's answers there in case some were not sent yet.
    var revision = form.querySelector("[data-quiz-revision]");
    if (revision) revision.value = String(nextRevision());
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "action";
    hidden.value = "submit";
    form.appendChild(hidden);
    submitting = true;
    form.submit();
  }

  // Answers saved elsewhere since this page was made (another tab or device, or a save
  // that landed just after a reload was served) replace what the page shows, unless a
  // newer answer is waiting in the queue.
  function sync() {
    var url = form.getAttribute("data-state-url");
    if (!url) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (state) {
        if (!state) return;
        if (state.status !== "in_progress") {
          clearAttempt(prefix);
          window.location.assign(state.result_url);
          return;
        }
        var waiting = {};
        queuedKeys().forEach(function (key) {
          var item = readQueued(key);
          if (item) waiting[item.position] = item.revision;
        });
        state.saved.forEach(function (answer) {
          var fieldset = fieldsetOf(answer.position);
          if (!fieldset) return;
          var shown = parseInt(fieldset.getAttribute("data-revision") || "0", 10) || 0;
          if (answer.revision > shown && !(waiting[answer.position] > answer.revision)) {
            fill(fieldset, fieldsFor(fieldset, answer.response));
            setBase(fieldset, answer.revision);
          }
        });
      })
      .catch(function () {
        /* offline: the page and the queue are all there is */
      })
      .then(function () {
        form.setAttribute("data-synced", "");
      });
  }

  restore();
  showStatus();
  flush();
  sync();
})();
