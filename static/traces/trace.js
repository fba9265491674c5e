// Trace page: find within the trace (next/previous match, dim the rest), and the keyboard: ↑/↓ move between
// rows, ← collapses (or goes to the parent), → expands, Enter opens the details (the row's link), / focuses find,
// n/p the next/previous match. Expanding and the details are console/waterfall.js's; no inline script (CSP).
(function () {
  "use strict";
  var wf = document.getElementById("waterfall");
  if (!wf) return;
  var current = -1;

  function visibleRows() {
    return Array.prototype.filter.call(wf.querySelectorAll(".wf-row"), function (r) { return !r.hidden; });
  }
  function matches() {
    return Array.prototype.filter.call(wf.querySelectorAll(".wf-row.match"), function (r) { return !r.hidden; });
  }
  function focusRow(row) {
    if (!row) return;
    var link = row.querySelector(".wf-name");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }
  function goMatch(step) {
    var found = matches();
    if (!found.length) return;
    // Previous before any match was visited is the last one (not the one before it); rows a "+N" loaded count too.
    current = current < 0 && step < 0 ? found.length - 1 : (current + step + found.length) % found.length;
    wf.querySelectorAll(".current-match").forEach(function (r) { r.classList.remove("current-match"); });
    var row = found[current];
    row.classList.add("current-match");
    row.scrollIntoView({ block: "center" });
    focusRow(row);
    var count = document.getElementById("find-count");
    if (count) count.dataset.position = String(current + 1);
    var position = document.getElementById("find-position");
    if (position) position.textContent = (current + 1) + " of " + found.length;
  }

  var form = document.getElementById("wf-find");
  if (form) {
    var prev = form.querySelector(".find-prev");
    var next = form.querySelector(".find-next");
    var dim = form.querySelector(".find-dim");
    if (prev) prev.addEventListener("click", function () { goMatch(-1); });
    if (next) next.addEventListener("click", function () { goMatch(1); });
    if (dim) {
      wf.classList.toggle("dim", dim.checked);
      dim.addEventListener("change", function () { wf.classList.toggle("dim", dim.checked); });
    }
    if (next) {
      var position = document.createElement("span");
      position.id = "find-position";
      position.className = "muted";
      next.after(position);
    }
  }

  function rowOf(element) { return element && element.closest ? element.closest(".wf-row") : null; }
  function depth(row) { return parseInt(row.dataset.depth, 10); }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable);
    if (event.key === "/" && !typing) {
      var input = document.getElementById("find-text");
      if (input) { event.preventDefault(); input.focus(); input.select(); }
      return;
    }
    if (typing || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "n") { goMatch(1); return; }
    if (event.key === "p") { goMatch(-1); return; }
    var row = rowOf(target);
    if (!row || !wf.contains(row)) return;
    var rows = visibleRows();
    var at = rows.indexOf(row);
    if (event.key === "ArrowDown" && at < rows.length - 1) { event.preventDefault(); focusRow(rows[at + 1]); }
    else if (event.key === "ArrowUp" && at > 0) { event.preventDefault(); focusRow(rows[at - 1]); }
    else if (event.key === "ArrowRight") {
      var toggle = row.querySelector(".wf-toggle");
      if (toggle && row.classList.contains("collapsed")) { event.preventDefault(); toggle.click(); }
    } else if (event.key === "ArrowLeft") {
      event.preventDefault();
      var own = row.querySelector(".wf-toggle");
      if (own && !row.classList.contains("collapsed")) { own.click(); return; }
      for (var i = at - 1; i >= 0; i--) {
        if (depth(rows[i]) < depth(row)) { focusRow(rows[i]); return; }
      }
    }
  });
})();

// The minimap: drag across the whole trace to zoom the waterfall's bars and time axis to that range (each bar's
// SVG viewBox; rows loaded later follow), "Reset zoom" to come back. No inline style: SVG attributes only.
(function () {
  "use strict";
  var map = document.getElementById("wf-minimap-map");
  var wf = document.getElementById("waterfall");
  if (!map || !wf) return;
  var box = document.getElementById("wf-minimap");
  var range = document.getElementById("wf-minimap-range");
  var reset = document.getElementById("wf-zoom-reset");
  var state = document.getElementById("wf-zoom-state");
  var total = parseInt(box.dataset.durationNs, 10) || 1;
  var zoom = null; // [from, to] in 0..1000
  var ticks = Array.prototype.slice.call(wf.querySelectorAll(".wf-tick"));
  var original = ticks.map(function (t) { return t.textContent; });

  function fmt(ns) {
    if (ns >= 999950000) return (ns / 1e9).toFixed(2) + " s";
    if (ns >= 1e6) return (ns / 1e6).toFixed(1) + " ms";
    if (ns >= 1e3) return Math.round(ns / 1e3) + " µs";
    return Math.round(ns) + " ns";
  }
  function apply(bars) {
    var view = zoom ? zoom[0] + " 0 " + Math.max(zoom[1] - zoom[0], 1) + " 10" : "0 0 1000 10";
    bars.forEach(function (svg) { svg.setAttribute("viewBox", view); });
  }
  function setZoom(from, to) {
    zoom = from === null ? null : [from, to];
    apply(Array.prototype.slice.call(wf.querySelectorAll("svg.wf-bar")));
    ticks.forEach(function (t, k) {
      t.textContent = zoom ? fmt(((zoom[0] + (zoom[1] - zoom[0]) * k / (ticks.length - 1)) / 1000) * total) : original[k];
    });
    range.setAttribute("x", zoom ? zoom[0] : 0);
    range.setAttribute("width", zoom ? zoom[1] - zoom[0] : 0);
    reset.hidden = !zoom;
    wf.classList.toggle("zoomed", !!zoom);
    state.textContent = zoom ? "· showing " + fmt(zoom[0] / 1000 * total) + " to " + fmt(zoom[1] / 1000 * total) : "· drag to zoom";
  }
  function at(event) {
    var rect = map.getBoundingClientRect();
    return Math.min(Math.max((event.clientX - rect.left) / rect.width * 1000, 0), 1000);
  }
  var start = null;
  map.addEventListener("pointerdown", function (event) {
    start = at(event);
    map.setPointerCapture(event.pointerId);
    range.setAttribute("x", start);
    range.setAttribute("width", 0);
  });
  map.addEventListener("pointermove", function (event) {
    if (start === null) return;
    var x = at(event);
    range.setAttribute("x", Math.min(start, x));
    range.setAttribute("width", Math.abs(x - start));
  });
  map.addEventListener("pointerup", function (event) {
    if (start === null) return;
    var x = at(event);
    var from = Math.min(start, x), to = Math.max(start, x);
    start = null;
    if (to - from < 2) { setZoom(null); return; }
    setZoom(from, to);
  });
  reset.addEventListener("click", function () { setZoom(null); });
  new MutationObserver(function (records) {
    if (!zoom) return;
    records.forEach(function (record) {
      record.addedNodes.forEach(function (node) {
        if (node.querySelectorAll) apply(Array.prototype.slice.call(node.querySelectorAll("svg.wf-bar")));
      });
    });
  }).observe(wf, { childList: true, subtree: true });
})();
