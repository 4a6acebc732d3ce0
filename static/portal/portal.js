/* After htmx swaps in a part of a page, move keyboard focus to its heading so that
   screen-reader and keyboard users land where the new content is. */
document.addEventListener("htmx:afterSettle", function (event) {
  var target = event.detail.target;
  if (!target) { return; }
  var heading = target.querySelector("[data-focus-on-load]");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
    if (heading.scrollIntoView) { heading.scrollIntoView({ block: "start" }); }
  }
});
