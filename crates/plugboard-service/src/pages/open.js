// Opens the runs page at once. The link is spent by this POST, not by the GET that showed the
// page, so a link previewer (which runs no script) cannot use it up; without scripts the
// button does the same.
(function () {
  "use strict";
  var form = document.getElementById("open");
  var button = document.getElementById("start");
  button.disabled = true;
  button.textContent = "Opening…";
  form.submit();
})();
