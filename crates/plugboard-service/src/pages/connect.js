// Keeps the one-time link from being spent twice by a double click: the form works without
// this script, it only disables the button once the browser is on its way.
document.getElementById("connect").addEventListener("submit", function () {
  var button = document.getElementById("start");
  button.disabled = true;
  button.textContent = "Opening the sign-in page…";
});
