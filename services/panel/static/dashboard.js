// A live dashboard (a running campaign's, the bus's health) refreshes itself: the page is fetched
// again and its dashboard swapped in (parsed as an inert document, so nothing in it runs). Stops once
// the dashboard says it is no longer live (a campaign that is final).
(function () {
  "use strict";
  var board = document.getElementById("dashboard");
  if (!board || board.dataset.live !== "yes" || !window.fetch || !window.DOMParser) { return; }
  var every = Math.max(1, Number(board.dataset.refresh) || 5) * 1000;

  function later() { window.setTimeout(refresh, every); }

  function refresh() {
    fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        var next = text && new DOMParser().parseFromString(text, "text/html").getElementById("dashboard");
        if (next) {
          board.replaceWith(document.importNode(next, true));
          board = document.getElementById("dashboard");
        }
        if (board.dataset.live === "yes") { later(); }
      })
      .catch(later);
  }

  later();
})();
