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
    current = (current + step + found.length) % found.length;
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
