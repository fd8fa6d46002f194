/* Resumable uploads of lesson media, and the live processing status.
 *
 * Protocol (lms/media/views.py): POST create -> {asset_id, part_size, part_count, urls};
 * POST urls.parts {part_numbers} -> signed URLs; PUT each slice of the file to its URL
 * (three at a time, each retried with a growing delay); GET urls.state lists the parts
 * already stored, so that after a reload choosing the same file again sends only what
 * is missing; POST urls.complete; then GET urls.status until the file is processed.
 *
 * Parts go with XMLHttpRequest rather than fetch(): only XHR reports upload progress.
 * With S3 the bucket's CORS rules must allow PUT from this site and expose the ETag
 * header (the server also lists the parts itself, so a hidden ETag is not fatal).
 * Texts come translated from data-msg-* attributes with {placeholders}.
 */
(() => {
  "use strict";
  if (window.kenshuMediaUpload) return; // the partial may be included more than once
  window.kenshuMediaUpload = true;

  const PARALLEL = 3;
  const URL_BATCH = 12;
  const POLL_MS = 3000;
  const STALL_MS = 60000;
  const MAX_DELAY_MS = 30000;
  const TEXT_EVERY_MS = 2000;
  const SPEED_WINDOW_MS = 20000;
  const STORE_PREFIX = "kenshu.upload.";

  const fill = (template, values) =>
    String(template || "").replace(/\{(\w+)\}/g, (match, name) =>
      Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : match,
    );

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  class HttpError extends Error {
    constructor(status, message, data) {
      super(message);
      this.status = status;
      this.data = data || null;
      this.aborted = false;
    }
  }

  const retriable = (error) =>
    error instanceof HttpError &&
    (error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500);

  async function requestJSON(url, { method = "GET", body, csrf } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = csrf || "";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new HttpError(0, error && error.message ? error.message : "network");
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
    }
    if (!response.ok) {
      const detail = data && data.error ? data.error : null;
      throw new HttpError(response.status, detail && detail.message ? detail.message : response.statusText, detail);
    }
    return data;
  }

  // --- the panel that shows the lesson's files --------------------------------------------

  async function refreshPanel(panel) {
    if (!panel || !panel.dataset.panelUrl) return;
    try {
      const response = await fetch(panel.dataset.panelUrl, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (!response.ok) return;
      panel.innerHTML = await response.text(); // server-rendered and escaped; no scripts
      startPollers(panel);
    } catch (error) {
      /* the next poll or a reload will show it */
    }
  }

  function showStatus(box, data) {
    const percent = Math.floor((data.progress || 0) * 100);
    const bar = box.querySelector("[data-media-progress]");
    if (bar) bar.value = percent;
    const label = box.querySelector("[data-media-percent]");
    if (label) label.textContent = percent + "%";
    const notice = box.querySelector("[data-media-notice]");
    if (notice) notice.textContent = data.notice || "";
  }

  async function poll(box) {
    const panel = box.closest("[data-media-panel]");
    for (;;) {
      await sleep(POLL_MS);
      if (!box.isConnected) return;
      let data;
      try {
        data = await requestJSON(box.dataset.mediaPoll);
      } catch (error) {
        if (error.status === 403 || error.status === 404) {
          await refreshPanel(panel);
          return;
        }
        continue; // offline for a moment: ask again later
      }
      if (data.status !== "processing") {
        await refreshPanel(panel);
        return;
      }
      showStatus(box, data);
    }
  }

  function startPollers(scope) {
    scope.querySelectorAll("[data-media-poll]").forEach((box) => {
      if (box.dataset.polling) return;
      box.dataset.polling = "1";
      poll(box);
    });
  }

  // --- one upload widget --------------------------------------------------------------------

  class Uploader {
    constructor(root) {
      this.root = root;
      this.data = root.dataset;
      this.input = root.querySelector("[data-upload-file]");
      this.startButton = root.querySelector("[data-upload-start]");
      this.pauseButton = root.querySelector("[data-upload-pause]");
      this.cancelButton = root.querySelector("[data-upload-cancel]");
      this.bar = root.querySelector("[data-upload-progress]");
      this.line = root.querySelector("[data-upload-status]");
      this.hint = root.querySelector("[data-upload-resume-hint]");
      this.panel = root.parentElement.querySelector("[data-media-panel]");
      this.storeKey = STORE_PREFIX + this.data.lesson;
      this.locale = document.documentElement.lang || undefined;
      this.busy = false;
      this.paused = false;
      this.offline = navigator.onLine === false;
      this.waiters = [];
      this.inflight = new Map();

      this.startButton.addEventListener("click", () => this.start());
      this.pauseButton.addEventListener("click", () => (this.paused ? this.resume() : this.pause()));
      this.cancelButton.addEventListener("click", () => this.cancel());
      window.addEventListener("offline", () => this.goOffline());
      window.addEventListener("online", () => this.goOnline());
      this.showResumeHint();
    }

    msg(name, values) {
      return fill(this.data["msg" + name], values || {});
    }

    say(text) {
      this.line.textContent = text;
      this.lastText = performance.now();
    }

    // -- remembering an upload across reloads (file name, size and date identify it) --

    saved() {
      try {
        return JSON.parse(window.localStorage.getItem(this.storeKey) || "null");
      } catch (error) {
        return null;
      }
    }

    remember(value) {
      try {
        window.localStorage.setItem(this.storeKey, JSON.stringify(value));
      } catch (error) {
        /* private mode: the upload still works, only not across reloads */
      }
    }

    forget() {
      try {
        window.localStorage.removeItem(this.storeKey);
      } catch (error) {
        /* nothing to forget */
      }
      this.hint.hidden = true;
    }

    showResumeHint() {
      const saved = this.saved();
      if (saved && saved.name) {
        this.hint.textContent = this.msg("ResumeHint", { name: saved.name });
        this.hint.hidden = false;
      }
    }

    // -- buttons and progress --

    setBusy(busy) {
      this.busy = busy;
      this.startButton.disabled = busy;
      this.input.disabled = busy;
      this.pauseButton.hidden = !busy;
      this.cancelButton.hidden = !busy;
      if (!busy) {
        this.paused = false;
        this.pauseButton.textContent = this.msg("Pause");
      }
    }

    partLength(number) {
      const size = this.session.part_size;
      return Math.min(size, this.file.size - (number - 1) * size);
    }

    sentBytes() {
      let sent = 0;
      this.done.forEach((_etag, number) => (sent += this.partLength(number)));
      this.loaded.forEach((bytes) => (sent += bytes));
      return Math.min(sent, this.file.size);
    }

    percent() {
      return this.file.size ? Math.floor((this.sentBytes() * 100) / this.file.size) : 100;
    }

    sample() {
      const now = performance.now();
      this.samples.push([now, this.transferred]);
      while (this.samples.length > 2 && now - this.samples[0][0] > SPEED_WINDOW_MS) this.samples.shift();
    }

    speed() {
      if (this.samples.length < 2) return 0;
      const [t0, b0] = this.samples[0];
      const [t1, b1] = this.samples[this.samples.length - 1];
      return t1 - t0 < 1000 ? 0 : ((b1 - b0) * 1000) / (t1 - t0);
    }

    duration(seconds) {
      if (seconds >= 3600) {
        return this.msg("Hours", { hours: Math.floor(seconds / 3600), minutes: Math.floor((seconds % 3600) / 60) });
      }
      if (seconds >= 60) return this.msg("Minutes", { minutes: Math.ceil(seconds / 60) });
      return this.msg("Seconds", { seconds: Math.max(1, Math.ceil(seconds)) });
    }

    showProgress(force) {
      this.bar.hidden = false;
      this.bar.value = this.file.size ? (this.sentBytes() * 100) / this.file.size : 100;
      if (this.paused || this.offline) return;
      if (!force && performance.now() - (this.lastText || 0) < TEXT_EVERY_MS) return;
      const percent = this.percent();
      const speed = this.speed();
      if (speed > 0) {
        const digits = speed < 10 * 1024 * 1024 ? 2 : 1;
        const mbps = new Intl.NumberFormat(this.locale, { maximumFractionDigits: digits }).format(speed / 1e6);
        const left = this.duration((this.file.size - this.sentBytes()) / speed);
        this.say(this.msg("Progress", { percent, speed: mbps, left }));
      } else {
        this.say(this.msg("ProgressShort", { percent }));
      }
    }

    // -- pausing: by the user, or because the browser is offline --

    held() {
      return (this.paused || this.offline) && !this.stopped && !this.failure;
    }

    async whileHeld() {
      while (this.held()) await new Promise((resolve) => this.waiters.push(resolve));
    }

    nap(ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }

    wake() {
      const waiters = this.waiters;
      this.waiters = [];
      waiters.forEach((resolve) => resolve());
    }

    abortInflight() {
      this.inflight.forEach((xhr) => xhr.abort());
    }

    pause() {
      if (!this.busy) return;
      this.paused = true;
      this.abortInflight();
      this.pauseButton.textContent = this.msg("Resume");
      this.say(this.msg("Paused", { percent: this.percent() }));
    }

    resume() {
      this.paused = false;
      this.pauseButton.textContent = this.msg("Pause");
      this.wake();
      this.showProgress(true);
    }

    goOffline() {
      this.offline = true;
      if (!this.busy) return;
      this.abortInflight();
      this.say(this.msg("Offline"));
    }

    goOnline() {
      this.offline = false;
      this.wake();
      if (!this.busy || !this.file) return;
      if (this.paused) this.say(this.msg("Paused", { percent: this.percent() }));
      else this.showProgress(true);
    }

    async withRetry(action) {
      for (let attempt = 1; ; attempt += 1) {
        await this.whileHeld();
        try {
          return await action();
        } catch (error) {
          if (!retriable(error) || this.stopped) throw error;
          const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(attempt - 1, 5));
          this.say(this.msg("Retrying", { seconds: Math.round(delay / 1000) }));
          await this.nap(delay);
        }
      }
    }

    // -- the upload itself --

    async start() {
      if (this.busy) return;
      const file = this.input.files && this.input.files[0];
      if (!file) {
        this.say(this.msg("Choose"));
        this.input.focus();
        return;
      }
      if (file.size > Number(this.data.maxBytes)) {
        this.say(this.msg("TooLarge"));
        return;
      }
      this.file = file;
      this.done = new Map();
      this.loaded = new Map();
      this.urls = new Map();
      this.samples = [];
      this.transferred = 0;
      this.stopped = false;
      this.failure = null;
      this.refilled = false;
      this.setBusy(true);
      try {
        if (!(await this.open(file))) return;
        await this.sendAll();
        if (this.stopped) return;
        await this.complete();
      } catch (error) {
        if (this.stopped) return;
        this.bar.hidden = true;
        this.say(this.msg("Error", { message: error.message || this.msg("Network") }));
      } finally {
        this.setBusy(false);
      }
    }

    async open(file) {
      const saved = this.saved();
      const same =
        saved && saved.name === file.name && saved.size === file.size && saved.lastModified === file.lastModified;
      if (same) {
        try {
          const state = await this.withRetry(() => requestJSON(saved.urls.state));
          if (state.status === "uploading") {
            this.session = state;
            state.parts.forEach((part) => this.done.set(part.part_number, part.etag));
            this.say(this.msg("Resuming", { percent: this.percent() }));
            return true;
          }
          this.forget(); // finished earlier: follow its processing instead
          await this.follow(state.urls.status);
          return false;
        } catch (error) {
          if (error.status !== 404 && error.status !== 410) throw error;
          this.forget(); // the server no longer has it: start again
        }
      }
      this.say(this.msg("Starting"));
      const created = await this.withRetry(() =>
        requestJSON(this.data.createUrl, {
          method: "POST",
          csrf: this.data.csrf,
          body: {
            filename: file.name,
            size: file.size,
            content_type: file.type || "application/octet-stream",
            kind: this.data.kind,
          },
        }),
      );
      this.session = created;
      this.remember({
        asset_id: created.asset_id,
        name: file.name,
        size: file.size,
        lastModified: file.lastModified,
        urls: created.urls,
      });
      return true;
    }

    async sendAll() {
      this.queue = [];
      for (let number = 1; number <= this.session.part_count; number += 1) {
        if (!this.done.has(number)) this.queue.push(number);
      }
      this.showProgress(true);
      const workers = [];
      for (let i = 0; i < Math.min(PARALLEL, this.queue.length); i += 1) workers.push(this.worker());
      await Promise.all(workers);
      if (this.failure) throw this.failure;
    }

    async worker() {
      while (this.queue.length && !this.stopped && !this.failure) {
        const number = this.queue.shift();
        try {
          await this.sendPart(number);
        } catch (error) {
          if (!this.failure) {
            this.failure = error;
            this.abortInflight();
            this.wake();
          }
          return;
        }
      }
    }

    async sendPart(number) {
      let attempt = 0;
      for (;;) {
        await this.whileHeld();
        if (this.stopped || this.failure) return;
        const url = await this.partUrl(number);
        try {
          const etag = await this.put(url, number);
          this.done.set(number, etag);
          this.loaded.delete(number);
          this.showProgress(false);
          return;
        } catch (error) {
          this.loaded.delete(number);
          if (error.aborted) continue; // paused or offline: sent again when allowed
          if (error.status === 403) this.urls.delete(number); // the signature expired: sign again
          attempt += 1;
          const clientError = error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429;
          if (clientError && (error.status !== 403 || attempt > 4)) throw error;
          if (error.status === 403 && attempt < 2) continue;
          const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(attempt - 1, 5)) * (0.75 + Math.random() / 2);
          this.say(this.msg("Retrying", { seconds: Math.max(1, Math.round(delay / 1000)) }));
          await this.nap(delay);
        }
      }
    }

    async partUrl(number) {
      while (!this.urls.has(number)) {
        if (!this.urlRequest) {
          const wanted = [number, ...this.queue.filter((n) => !this.urls.has(n)).slice(0, URL_BATCH - 1)];
          this.urlRequest = this.withRetry(() =>
            requestJSON(this.session.urls.parts, {
              method: "POST",
              csrf: this.data.csrf,
              body: { part_numbers: wanted },
            }),
          )
            .then((data) => Object.entries(data.urls).forEach(([n, url]) => this.urls.set(Number(n), url)))
            .finally(() => {
              this.urlRequest = null;
            });
        }
        await this.urlRequest;
      }
      return this.urls.get(number);
    }

    put(url, number) {
      const start = (number - 1) * this.session.part_size;
      const blob = this.file.slice(start, start + this.partLength(number));
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        let lastProgress = performance.now();
        let previous = 0;
        let stalled = false;
        const watchdog = setInterval(() => {
          if (performance.now() - lastProgress > STALL_MS) {
            stalled = true; // no byte went out for a minute: try this part again
            xhr.abort();
          }
        }, 5000);
        const finish = () => {
          clearInterval(watchdog);
          this.inflight.delete(number);
        };
        xhr.open("PUT", url);
        xhr.upload.onprogress = (event) => {
          lastProgress = performance.now();
          this.transferred += event.loaded - previous;
          previous = event.loaded;
          this.loaded.set(number, event.loaded);
          this.sample();
          this.showProgress(false);
        };
        xhr.onload = () => {
          finish();
          if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader("ETag") || "");
          else reject(new HttpError(xhr.status, xhr.statusText || String(xhr.status)));
        };
        xhr.onerror = () => {
          finish();
          reject(new HttpError(0, this.msg("Network")));
        };
        xhr.onabort = () => {
          finish();
          const error = new HttpError(0, this.msg("Network"));
          error.aborted = !stalled;
          reject(error);
        };
        this.inflight.set(number, xhr);
        xhr.send(blob);
      });
    }

    async complete() {
      this.say(this.msg("Completing"));
      const parts = [...this.done.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([part_number, etag]) => ({ part_number, etag }));
      let result;
      try {
        result = await this.withRetry(() =>
          requestJSON(this.session.urls.complete, { method: "POST", csrf: this.data.csrf, body: { parts } }),
        );
      } catch (error) {
        const missing = error.data && error.data.missing_parts;
        if (error.status === 400 && missing && missing.length && !this.refilled) {
          this.refilled = true; // a part got lost on the way: send it again, once
          missing.forEach((number) => this.done.delete(number));
          await this.sendAll();
          return this.complete();
        }
        if (error.status === 409) {
          this.forget(); // completed by an earlier try whose answer got lost
          return this.follow(this.session.urls.status);
        }
        if (error.status >= 400 && error.status < 500) this.forget();
        throw error;
      }
      this.forget();
      return this.follow(result.urls.status);
    }

    async follow(statusUrl) {
      this.setBusy(false); // nothing left to pause or cancel here
      this.bar.hidden = false;
      this.bar.value = 0;
      this.say(this.msg("Processing", { percent: 0 }));
      for (;;) {
        let data;
        try {
          data = await requestJSON(statusUrl);
        } catch (error) {
          if (error.status === 403 || error.status === 404) break;
          await sleep(POLL_MS);
          continue;
        }
        if (data.status === "ready") {
          this.say(this.msg("Ready"));
          break;
        }
        if (data.status === "failed") {
          this.say(this.msg("Failed", { message: data.error || "" }));
          break;
        }
        const percent = Math.floor((data.progress || 0) * 100);
        this.bar.value = percent;
        this.say(this.msg("Processing", { percent }));
        await sleep(POLL_MS);
      }
      this.bar.hidden = true;
      this.input.value = "";
      await refreshPanel(this.panel);
    }

    async cancel() {
      if (!this.busy) return;
      this.stopped = true;
      this.abortInflight();
      this.wake();
      const session = this.session;
      this.forget();
      this.bar.hidden = true;
      this.say(this.msg("Cancelled"));
      if (session && session.urls) {
        try {
          await requestJSON(session.urls.abort, { method: "DELETE", csrf: this.data.csrf });
        } catch (error) {
          /* an unfinished upload is discarded by the next one anyway */
        }
      }
      await refreshPanel(this.panel);
    }
  }

  function init() {
    document.querySelectorAll("[data-upload]").forEach((root) => {
      if (!root.dataset.ready) {
        root.dataset.ready = "1";
        new Uploader(root);
      }
    });
    document.querySelectorAll("[data-media-panel]").forEach((panel) => startPollers(panel));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
