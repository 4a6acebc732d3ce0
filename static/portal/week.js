/* The week calendar: a click in a free block books from the row clicked, not from the
   block's start. The block's link (href and hx-get) proposes its start; a pointer click
   rewrites the link's start and end (the clicked row's start, on the slot grid, and the
   booking's length after it, kept inside the block) before htmx, or the browser without
   htmx, follows it. Keyboard users (a click with no pointer) keep the block's start;
   without this script the link works as written. No inline script: CSP allows our files
   only. */
(function () {
  "use strict";

  var MINUTE = 60000;

  function wallClock(value) {  /* "2026-12-01T09:00" as minutes, in wall-clock time */
    return Date.parse(value + ":00Z") / MINUTE;
  }

  function formatted(minutes) {
    return new Date(minutes * MINUTE).toISOString().slice(0, 16);
  }

  function withTimes(url, start, end) {
    var parts = url.split("?");
    var params = new URLSearchParams(parts[1] || "");
    params.set("start", start);
    params.set("end", end);
    return parts[0] + "?" + params.toString();
  }

  function picked(link, event) {
    var grid = link.closest(".week-grid");
    var step = grid ? parseInt(grid.getAttribute("data-step"), 10) : 0;
    var length = grid ? parseInt(grid.getAttribute("data-length"), 10) : 0;
    var from = wallClock(link.getAttribute("data-start"));
    var to = wallClock(link.getAttribute("data-end"));
    if (!step || !length || isNaN(from) || isNaN(to) || to <= from) { return null; }
    var rows = Math.round((to - from) / step);
    var box = link.getBoundingClientRect();
    var row = Math.floor((event.clientY - box.top) / box.height * rows);
    row = Math.min(Math.max(row, 0), rows - 1);
    var start = Math.max(from, Math.min(from + row * step, to - length));
    var end = Math.min(start + length, to);
    return withTimes(link.getAttribute("data-href"), formatted(start), formatted(end));
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".week-grid a.slot.free");
    if (!link) { return; }
    if (!link.hasAttribute("data-href")) {
      link.setAttribute("data-href", link.getAttribute("href"));
    }
    /* detail 0: a click made with the keyboard (Enter), which keeps the block's start */
    var url = event.detail > 0 ? picked(link, event) : null;
    link.setAttribute("href", url || link.getAttribute("data-href"));
  }, true);  /* capture: before htmx's own handler reads the link */

  /* htmx read hx-get when it set the link up: send the request to the rewritten href. */
  document.addEventListener("htmx:configRequest", function (event) {
    var link = event.detail.elt;
    if (link && link.matches && link.matches(".week-grid a.slot.free[data-href]")) {
      event.detail.path = link.getAttribute("href");
    }
  });
}());
