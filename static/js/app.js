// htmx sends the CSRF token of the page with every unsafe request it makes.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRFToken"] = meta.getAttribute("content");
  }
});

// Show the server's explanation when it refuses a form (400/403/409/422/429), not nothing at all.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status === 400 || status === 403 || status === 409 || status === 422 || status === 429) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// Buttons that act on the page itself. They say what they do in data-action, because the
// Content-Security-Policy forbids inline handlers (onclick=…).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-action]");
  if (!button) return;
  if (button.dataset.action === "print") {
    window.print();
  } else if (button.dataset.action === "remove-form") {
    button.closest("form").remove();
  }
});

// A document printed from its page (its print recorded) comes back asking the browser to print it.
document.addEventListener("DOMContentLoaded", function () {
  if (document.body && document.body.dataset.autoprint === "1") {
    window.print();
  }
});
