// Reloads the page once a PDF certificate that is being made is ready (or has failed),
// so the trainee sees the download link without reloading by hand. Polls gently and
// gives up after a while; the page says to reload in any case.
(function () {
  "use strict";
  if (window.kenshuCertificateStatus) return; // the partial may appear once per record
  window.kenshuCertificateStatus = true;

  var MAX_POLLS = 40;

  function watch(element, polls, delay) {
    if (polls >= MAX_POLLS) return;
    window.setTimeout(function () {
      fetch(element.getAttribute("data-certificate-status"), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (body) {
          if (body && body.status !== "pending") {
            window.location.reload();
          } else {
            watch(element, polls + 1, Math.min(delay * 1.5, 15000));
          }
        })
        .catch(function () {
          watch(element, polls + 1, Math.min(delay * 2, 30000));
        });
    }, delay);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var waiting = document.querySelectorAll("[data-certificate-status]");
    for (var i = 0; i < waiting.length; i += 1) watch(waiting[i], 0, 3000);
  });
})();
