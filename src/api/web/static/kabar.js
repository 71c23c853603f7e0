// kabar's keys: j/k move between stories, o opens the focused one, / searches,
// ? lists the keys. Every page works without this script.
(function () {
  "use strict";
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("ol.stories > li")); };
  var current = -1;
  function focus(i) {
    var r = rows();
    if (r.length === 0) { return; }
    current = Math.max(0, Math.min(r.length - 1, i));
    r.forEach(function (li) { li.classList.remove("focus"); });
    r[current].classList.add("focus");
    r[current].focus();
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) { return; }
    if (e.key === "j") { focus(current + 1); e.preventDefault(); }
    else if (e.key === "k") { focus(current - 1); e.preventDefault(); }
    else if (e.key === "o") {
      var r = rows()[current];
      var a = r && r.querySelector("a.open");
      if (a) { window.location.href = a.href; }
    } else if (e.key === "/") {
      var q = document.querySelector("header input[type=search]");
      if (q) { q.focus(); e.preventDefault(); }
    } else if (e.key === "?") {
      var d = document.getElementById("keys");
      if (d && d.showModal) { d.showModal(); }
    }
  });
})();
