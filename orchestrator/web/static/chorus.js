// Light progressive enhancement: every page works without this file.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');

  // htmx requests carry the CSRF token the forms carry.
  document.addEventListener("htmx:configRequest", function (event) {
    if (token) event.detail.headers["X-CSRFToken"] = token.content;
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");

    var toggle = document.querySelector(".nav-toggle");
    var nav = document.getElementById("site-nav");
    if (toggle && nav) {
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        nav.classList.toggle("open", open);
      });
    }

    // Ask before irreversible or audience-wide actions (launch, cancel, revoke).
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });

    // Tabs: buttons with role=tab switch panels; arrow keys move between them.
    document.querySelectorAll("[role=tablist]").forEach(function (list) {
      var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
      function select(tab) {
        tabs.forEach(function (other) {
          var on = other === tab;
          other.setAttribute("aria-selected", String(on));
          other.tabIndex = on ? 0 : -1;
          var panel = document.getElementById(other.getAttribute("aria-controls"));
          if (panel) panel.hidden = !on;
        });
      }
      tabs.forEach(function (tab, index) {
        tab.addEventListener("click", function () { select(tab); });
        tab.addEventListener("keydown", function (event) {
          var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
          if (!step) return;
          var next = tabs[(index + step + tabs.length) % tabs.length];
          select(next);
          next.focus();
          event.preventDefault();
        });
      });
      // Without script every panel shows; with it, one at a time.
      select(tabs.filter(function (t) { return t.getAttribute("aria-selected") === "true"; })[0] || tabs[0]);
    });

    // Copy buttons (API key secrets).
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source || !navigator.clipboard) return;
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = "Copied";
        });
      });
    });
  });
})();
