// The console's own script (htmx does the rest): the viewer's zone on the sign-in form,
// keyboard shortcuts, select-all, the 10 s undo of bulk moderation, and pausing live
// updates while the tab is hidden. No inline handlers: the CSP allows none.
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function fill() {
    $$('[data-fill="timezone"]').forEach(function (el) {
      try { el.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { el.value = ""; }
    });
  }

  // Live regions poll with hx-trigger="every 3s [!document.hidden]"-like behaviour without
  // eval: a region marked data-live is refreshed by this timer only while the tab is visible.
  function live() {
    if (document.hidden) return;
    $$("[data-live]").forEach(function (el) {
      if (window.htmx) window.htmx.trigger(el, "refresh");
    });
  }

  // Bulk moderation: the action waits 10 s with an undo button before it is sent.
  var pending = null;
  function cancelPending() {
    if (!pending) return;
    clearInterval(pending.timer);
    pending.bar.hidden = true;
    pending = null;
  }
  function stage(form, action) {
    cancelPending();
    var bar = $("#undo-bar");
    var left = 10;
    var count = $$('input[name="ids"]:checked', form).length;
    var all = $('input[name="all_matching"]', form);
    if (all && all.checked) count = all.getAttribute("data-total") || count;
    if (!count) return;
    $('input[name="action"]', form).value = action;
    bar.hidden = false;
    var label = $("#undo-text");
    var template = label.getAttribute("data-template");
    function show() { label.textContent = template.replace("{n}", count).replace("{s}", left); }
    show();
    pending = {
      bar: bar,
      timer: setInterval(function () {
        left -= 1;
        if (left <= 0) {
          var p = pending;
          cancelPending();
          window.htmx.trigger(form, "confirmed");
          return p;
        }
        show();
      }, 1000)
    };
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest ? ev.target.closest("[data-stage]") : null;
    if (t) {
      ev.preventDefault();
      stage(t.form || $("#bulk-form"), t.getAttribute("data-stage"));
      return;
    }
    if (ev.target.closest && ev.target.closest("#undo")) {
      ev.preventDefault();
      cancelPending();
    }
    var sel = ev.target.closest ? ev.target.closest("[data-select-page]") : null;
    if (sel) {
      var on = sel.checked;
      $$('input[name="ids"]', sel.form).forEach(function (b) { b.checked = on; });
    }
  });

  // Shortcuts on the moderation page: j/k move, x selects, a/h/d stage approve/hide/delete,
  // u or Escape undoes.
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" && ev.target.type !== "checkbox" || tag === "textarea" || tag === "select") return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var form = $("#bulk-form");
    if (ev.key === "Escape" || ev.key === "u") { if (pending) { cancelPending(); ev.preventDefault(); } return; }
    if (!form) return;
    var rows = $$('input[name="ids"]', form);
    var idx = rows.indexOf(document.activeElement);
    if (ev.key === "j" || ev.key === "k") {
      var next = ev.key === "j" ? Math.min(idx + 1, rows.length - 1) : Math.max(idx - 1, 0);
      if (rows[next]) rows[next].focus();
      ev.preventDefault();
    } else if (ev.key === "x" && idx >= 0) {
      rows[idx].checked = !rows[idx].checked;
      ev.preventDefault();
    } else if (ev.key === "a" || ev.key === "h" || ev.key === "d") {
      stage(form, { a: "approve", h: "hide", d: "delete" }[ev.key]);
      ev.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    fill();
    setInterval(live, 3000);
  });
  document.addEventListener("htmx:afterSettle", fill);
})();
