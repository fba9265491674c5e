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
