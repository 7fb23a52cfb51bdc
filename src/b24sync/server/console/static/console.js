// Confirmation before bulk actions (forms with data-confirm); no inline scripts (CSP script-src 'self').
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) { ev.preventDefault(); }
});
