// Every page: "/" focuses the lookup box; a pasted id is looked up at once.
(function () {
  "use strict";
  var box = document.getElementById("lookup-box");
  if (!box) return;
  document.addEventListener("keydown", function (event) {
    var tag = (event.target && event.target.tagName) || "";
    if (event.key === "/" && tag !== "INPUT" && tag !== "TEXTAREA" && tag !== "SELECT") {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });
  box.addEventListener("paste", function () {
    window.setTimeout(function () {
      if (box.value.trim()) box.form.requestSubmit();
    }, 0);
  });
})();

// GET forms send no blank parameters, so the URL they lead to (and the one htmx pushes) carries only what filters:
// `/traces/?service=api`, not `/traces/?job=&execution=&shard=&service=api`.
(function () {
  "use strict";
  function blank(value) {
    return typeof value === "string" && value.trim() === "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var data = event.detail.formData;
    if (event.detail.verb !== "get" || !data) return;
    var kept = [];
    var dropped = false;
    data.forEach(function (value, name) {
      if (blank(value)) dropped = true;
      else kept.push([name, value]);
    });
    if (!dropped) return;
    Array.from(new Set(Array.from(data.keys()))).forEach(function (name) { data.delete(name); });
    kept.forEach(function (pair) { data.append(pair[0], pair[1]); });
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || (form.method || "get").toLowerCase() !== "get") return;
    if (form.hasAttribute("hx-get")) return; // htmx submits it (above)
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name && !field.disabled && blank(field.value)) {
        field.disabled = true; // not sent; enabled again right after, for the back button
        window.setTimeout(function () { field.disabled = false; }, 0);
      }
    });
  });
})();
