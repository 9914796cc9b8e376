// Live updates for ConfigSync's pages: the server sends an event when a
// watched ConfigSync changes; the page fetches its own URL again and swaps
// its main content. Without this script the pages read the same, one
// reload at a time.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!window.EventSource || !window.fetch || !live) { return; }
  var busy = false, again = false, refreshes = 0;

  function say(text, cls) { live.textContent = text; live.className = "live " + (cls || ""); }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main"), main = document.getElementById("main");
        // Unchanged content is left alone, so that nothing under the
        // pointer or the keyboard moves without a reason.
        if (!fresh || !main || fresh.innerHTML === main.innerHTML) { return; }
        // Keep the focus where the keyboard user left it when that element
        // is still there after the swap.
        var focused = document.activeElement && document.activeElement.id;
        main.innerHTML = fresh.innerHTML;
        if (focused) {
          var el = document.getElementById(focused);
          if (el) { el.focus(); }
        }
        say("live: updated " + new Date().toLocaleTimeString(), "on");
      })
      .catch(function () { say("live: refresh failed, retrying", "off"); })
      .then(function () {
        busy = false;
        // Says, for tests and tools, that the page caught up with the
        // stream at least once since it loaded.
        document.body.setAttribute("data-refreshed", String(++refreshes));
        if (again) { again = false; refresh(); }
      });
  }

  var scope = document.body.getAttribute("data-watch") || "";
  var es = new EventSource("/events?watch=" + encodeURIComponent(scope));
  es.onopen = function () { say("live", "on"); };
  es.onmessage = refresh;
  es.addEventListener("failure", function (e) { say("live updates stopped: " + e.data, "off"); });
  es.onerror = function () { say("live: reconnecting…", "off"); };
})();
