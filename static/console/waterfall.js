// Trace and shard pages: collapse/expand subtrees (loading collapsed ones from the server) and show a span's
// details without leaving the page. URLs come from data-* attributes; no inline script (CSP).
(function () {
  "use strict";
  var wf = document.getElementById("waterfall");
  if (!wf) return;
  var rowsUrl = wf.dataset.rowsUrl;
  var spanUrl = wf.dataset.spanUrl;
  var findQuery = wf.dataset.find || ""; // the page's find: a loaded subtree marks its matches too
  var panel = document.getElementById("span-panel");

  function depth(row) { return parseInt(row.dataset.depth, 10); }

  function descendants(row) {
    var out = [];
    var d = depth(row);
    var next = row.nextElementSibling;
    while (next && next.classList.contains("wf-row") && depth(next) > d) {
      out.push(next);
      next = next.nextElementSibling;
    }
    return out;
  }

  function setToggle(row, open) {
    row.classList.toggle("collapsed", !open);
    var button = row.querySelector(".wf-toggle");
    if (button) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      button.setAttribute("aria-label", (open ? "Collapse " : "Expand ") + (row.querySelector(".wf-name") || row).textContent.trim());
    }
  }

  function collapse(row) {
    descendants(row).forEach(function (r) { r.hidden = true; });
    setToggle(row, false);
  }

  function expandLoaded(row) {
    setToggle(row, true);
    var hideBelow = null;
    descendants(row).forEach(function (r) {
      var d = depth(r);
      if (hideBelow !== null && d > hideBelow) { r.hidden = true; return; }
      hideBelow = null;
      r.hidden = false;
      if (r.classList.contains("collapsed")) hideBelow = d;
    });
  }

  function expandRemote(row) {
    row.classList.add("loading");
    fetch(rowsUrl + encodeURIComponent(row.dataset.span) + "/" + (findQuery ? "?" + findQuery : ""), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html;
        var selected = wf.querySelector(".wf-row.selected");
        var selectedId = selected ? selected.dataset.span : null;
        descendants(row).forEach(function (r) { r.remove(); });
        row.replaceWith(template.content);
        if (selectedId) markSelected(selectedId);
      })
      .catch(function () { row.classList.remove("loading"); row.classList.add("load-failed"); });
  }

  function markSelected(spanId) {
    wf.querySelectorAll(".wf-row.selected").forEach(function (r) { r.classList.remove("selected"); });
    var row = document.getElementById("span-" + spanId);
    if (row) row.classList.add("selected");
  }

  function showSpan(spanId) {
    if (!panel) return false;
    fetch(spanUrl + encodeURIComponent(spanId) + "/", { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var current = document.getElementById("span-detail");
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        if (current) current.replaceWith(template.content);
        else { panel.textContent = ""; panel.appendChild(template.content); }
        markSelected(spanId);
        var base = rowsUrl.replace(/rows\/$/, "");
        if (window.location.pathname === base) {
          window.history.replaceState(null, "", base + "?span=" + encodeURIComponent(spanId));
        }
      })
      .catch(function () { /* the link still works as a plain navigation */ });
    return true;
  }

  document.addEventListener("click", function (event) {
    var more = event.target.closest(".wf-more");
    if (more && wf.contains(more)) {
      expandRemote(more.closest(".wf-row"));
      return;
    }
    var toggle = event.target.closest(".wf-toggle");
    if (toggle && wf.contains(toggle)) {
      var row = toggle.closest(".wf-row");
      if (!row.classList.contains("collapsed")) collapse(row);
      else if (row.dataset.unloaded) expandRemote(row);
      else expandLoaded(row);
      return;
    }
    var link = event.target.closest("a[data-span]");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      if (showSpan(link.dataset.span)) event.preventDefault();
    }
  });
})();
