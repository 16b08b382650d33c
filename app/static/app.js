/* Backroom: the little glue htmx needs under a strict CSP (no inline handlers, no eval). */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  // Under `style-src 'self'` htmx must never write style attributes while settling a swap.
  if (window.htmx) {
    window.htmx.config.attributesToSettle = ["class", "width", "height"];
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function showAlert(message) {
    var region = document.getElementById("alerts");
    if (!region) return;
    var box = document.createElement("div");
    box.className = "alert alert-error";
    box.setAttribute("role", "alert");
    var label = document.createElement("span");
    label.className = "alert-label";
    label.textContent = "Problem:";
    var text = document.createElement("span");
    text.textContent = " " + message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "alert-close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    box.append(label, text, close);
    region.replaceChildren(box);
  }

  // Every htmx request carries the CSRF token the page was rendered with.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = csrfToken();
  });

  // Error answers retargeted at #alerts (and form re-renders with 4xx) are meant to be shown.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.getResponseHeader("HX-Retarget") || xhr.status === 409 || xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Live regions (queues, a return's status) poll every few seconds, and keep polling. But
  // an answer must never wipe a form someone is filling in (focus in a field, or an action
  // form opened) nor land on top of their own action or filter change still under way: then
  // it is dropped, the region says it is paused, and the next poll after they finish swaps.
  var LIVE = "[data-pause-while-editing]";
  function isEditing(region) {
    var asking = document.getElementById("confirm-dialog"); // a question about a form here
    if (asking && asking.open) return true;
    var active = document.activeElement;
    if (active && region.contains(active) && active.matches("input, select, textarea")) return true;
    return region.querySelector("details[open]") !== null;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var xhr = event.detail.xhr;
    if (!elt.closest || !xhr) return;
    if (elt.matches(LIVE)) {
      xhr.backroomActs = elt.backroomActs || 0; // what the poll knew when it left
      return;
    }
    var region = elt.closest(LIVE);
    var target = event.detail.target;
    if (!region && target && target.matches && target.matches(LIVE)) region = target;
    if (region) {
      region.backroomActs = (region.backroomActs || 0) + 1;
      region.setAttribute("data-busy", "");
      xhr.backroomRegion = region;
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var region = event.detail.xhr && event.detail.xhr.backroomRegion;
    if (region) region.removeAttribute("data-busy");
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig;
    var region = config ? config.elt : null; // who asked: here, the region's own poll
    if (!region || !region.matches || !region.matches(LIVE) || event.detail.target !== region) return;
    var editing = isEditing(region);
    var overtaken = event.detail.xhr.backroomActs !== (region.backroomActs || 0);
    region.toggleAttribute("data-paused", editing);
    if (editing || overtaken || region.hasAttribute("data-busy")) event.detail.shouldSwap = false;
  });

  // Background polls (hx-trigger "every …") show no progress bar and clear no alert.
  function isPoll(elt) {
    var trigger = elt && elt.getAttribute ? elt.getAttribute("hx-trigger") || "" : "";
    return /(^|,)\s*every /.test(trigger);
  }

  // A thin progress bar at the top while any htmx request is in flight.
  var inFlight = 0;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (isPoll(event.detail.elt)) return;
    inFlight += 1;
    document.body.classList.add("is-loading");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (isPoll(event.detail.elt)) return;
    inFlight = Math.max(0, inFlight - 1);
    if (inFlight === 0) document.body.classList.remove("is-loading");
    // A successful answer elsewhere clears an alert left by an earlier failure.
    var xhr = event.detail.xhr;
    if (event.detail.successful && xhr && !xhr.getResponseHeader("HX-Retarget")) {
      var region = document.getElementById("alerts");
      if (region && event.detail.target !== region) region.replaceChildren();
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    showAlert("The server could not answer that request (status " + status + "). Please try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showAlert("We could not reach the server. Check your connection and try again.");
  });

  // htmx snapshots the page's HTML for the back button; typed values live in properties, so
  // copy them into attributes first or a restored search box comes back empty.
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("input[type=search], input[type=text], input[type=number]").forEach(
      function (input) { input.setAttribute("value", input.value); }
    );
    document.querySelectorAll("select").forEach(function (select) {
      Array.from(select.options).forEach(function (option) {
        option.toggleAttribute("selected", option.selected);
      });
    });
  });

  // An error shown in the alerts region is scrolled into view: the click that caused it may
  // be far down a long queue.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "alerts" && target.firstElementChild) {
      target.scrollIntoView({ block: "nearest" });
    }
  });

  // Countdowns: the server renders the seconds left (data-countdown) and its own clock's
  // text; this ticks them down between the region's polls, which re-synchronise them.
  function clock(seconds) {
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var text = hours || days ? hours + ":" + pad(minutes) + ":" + pad(secs) : minutes + ":" + pad(secs);
    return days ? days + " d " + text : text;
  }
  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (element) {
      if (!element.dataset.countdownFrom) {
        element.dataset.countdownFrom = element.getAttribute("data-countdown");
        element.dataset.countdownAt = String(Date.now());
      }
      var elapsed = Math.floor((Date.now() - Number(element.dataset.countdownAt)) / 1000);
      var left = Math.max(0, Number(element.dataset.countdownFrom) - elapsed);
      element.textContent = left > 0 ? clock(left) : (element.getAttribute("data-countdown-done") || "0:00");
    });
  }
  // Start each countdown when it arrives (page load, or a region swapped in by htmx).
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:load", tick);
  window.setInterval(tick, 1000);

  // Dismiss buttons on alerts and flash messages.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (!button) return;
    var alert = button.closest(".alert");
    if (alert) alert.remove();
  });

  // Confirmations: the page's own dialog (templates/base.html), never window.confirm. It
  // says the question, starts on Cancel, closes on Escape (a "cancel"), and gives focus
  // back to what opened it. `answer(true)` runs only when the person chose Confirm.
  function ask(question, opener, answer) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      answer(window.confirm(question)); // a page without the dialog (or an old browser)
      return;
    }
    if (dialog.open) return; // one question at a time
    dialog.querySelector("#confirm-question").textContent = question;
    dialog.returnValue = "";
    dialog.addEventListener("close", function () {
      var confirmed = dialog.returnValue === "confirm";
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      answer(confirmed);
    }, { once: true });
    dialog.showModal();
    dialog.querySelector("[data-confirm-cancel]").focus();
  }

  // A question that depends on a choice in the same form: the chosen option's own question,
  // with {amount} filled in from the form's amount field (empty: all that was paid); the
  // form's question when the amount cannot be read (the server will say why).
  function formQuestion(form, question) {
    var option = form ? form.querySelector("option[data-confirm]:checked") : null;
    if (!option) return question;
    var text = option.getAttribute("data-confirm");
    if (text.indexOf("{amount}") < 0) return text;
    var input = form.querySelector("input[data-all]");
    var raw = input ? input.value.trim().replace(/,/g, "") : "";
    var amount;
    if (!raw) {
      amount = input ? input.getAttribute("data-all") : null;
    } else if (/^\d+(\.\d{1,2})?$/.test(raw)) {
      var parts = raw.split(".");
      var whole = Number(parts[0]).toLocaleString("en-US");
      amount = "$" + whole + "." + ((parts[1] || "") + "00").slice(0, 2);
    }
    return amount ? text.replace("{amount}", amount) : question;
  }

  function opener(form, event) {
    var submitter = event && event.submitter;
    if (submitter) return submitter;
    var active = document.activeElement;
    if (active && form && form.contains(active)) return active;
    return form ? form.querySelector('button[type="submit"], button:not([type])') : null;
  }

  // htmx asks before every request; those with hx-confirm get the page's dialog.
  document.addEventListener("htmx:confirm", function (event) {
    var question = event.detail.question;
    if (!question) return;
    event.preventDefault();
    var elt = event.detail.elt;
    var form = elt && elt.closest ? elt.closest("form") : null;
    var trigger = event.detail.triggeringEvent;
    var from = opener(form, trigger && trigger.type === "submit" ? trigger : null);
    ask(formQuestion(form, question), from, function (confirmed) {
      if (confirmed) event.detail.issueRequest(true);
    });
  });

  // Plain (non-htmx) forms: optional confirmation, and no double submits.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.hasAttribute("hx-post")) return;
    if (form.getAttribute("method") === "dialog") return;
    var question = form.getAttribute("data-confirm");
    if (question && form.dataset.confirmed !== "1") {
      event.preventDefault();
      var submitter = event.submitter || null;
      ask(formQuestion(form, question), opener(form, event), function (confirmed) {
        if (!confirmed) return;
        form.dataset.confirmed = "1"; // the submit this starts goes through
        if (typeof form.requestSubmit === "function") form.requestSubmit(submitter);
        else form.submit();
      });
      return;
    }
    delete form.dataset.confirmed;
    var busyText = form.getAttribute("data-disable-on-submit");
    if (busyText !== null) {
      if (form.dataset.submitted === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.submitted = "1";
      // The button that sent the form says so (a form may hold others: Find, Remove ...).
      var sent = event.submitter ? [event.submitter] : form.querySelectorAll('button[type="submit"]');
      Array.prototype.forEach.call(sent, function (button) {
        button.setAttribute("aria-disabled", "true");
        button.classList.add("is-busy");
        button.dataset.label = button.innerHTML; // its words for screen readers too
        if (busyText) button.textContent = busyText;
      });
    }
  });

  // Coming back through the browser cache must not leave a form stuck as "submitted".
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button.is-busy").forEach(function (button) {
        button.classList.remove("is-busy");
        button.removeAttribute("aria-disabled");
        if (button.dataset.label) button.innerHTML = button.dataset.label;
      });
    });
  });
  // Admin flash-sale form (templates/flash_sales/admin/form.html) ---------------------------
  // The time zone field starts empty only when the server knows no zone for this admin:
  // fill in the browser's, and ask for the UTC previews again (the server converts).
  function fillBrowserZone() {
    document.querySelectorAll("input[data-browser-zone]").forEach(function (input) {
      if (input.value.trim()) return;
      var zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
      if (!zone) return;
      input.value = zone;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }
  document.addEventListener("DOMContentLoaded", fillBrowserZone);

  // Enter in a field of a form marked data-enter-saves saves it with its [data-save] button
  // (without JavaScript the form's first, hidden, submit button is Find: Enter never saves
  // by surprise there). The product search's own Enter searches (below).
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || event.isComposing || !(input instanceof HTMLInputElement)) return;
    var form = input.form;
    if (!form || !form.hasAttribute("data-enter-saves") || input.matches("[data-search-field]")) return;
    var save = form.querySelector("[data-save]");
    if (!save || typeof form.requestSubmit !== "function") return;
    event.preventDefault();
    form.requestSubmit(save);
  });

  // Enter in the product search searches (htmx listens for "search"); it must not save the form.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || event.isComposing) return; // Enter that picks an IME candidate
    if (!input.matches || !input.matches("[data-search-field]")) return;
    event.preventDefault();
    input.dispatchEvent(new Event("search"));
  });

  // Find searches in the page (without JavaScript it posts the form, which comes back with
  // the matches).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-search-button]") : null;
    var input = document.getElementById("product-search");
    if (!button || !input) return;
    event.preventDefault();
    input.dispatchEvent(new Event("search"));
  });

  // Remove an item row in the page (without JavaScript the button posts the form, which
  // comes back without it); say so, and put focus on the next row's Remove (else the search).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-remove-row]") : null;
    if (!button) return;
    var row = document.getElementById(button.getAttribute("data-remove-row"));
    if (!row) return;
    event.preventDefault();
    var name = row.getAttribute("data-product-name") || "the product";
    var next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    var status = document.getElementById("product-search-status");
    if (status) status.textContent = "Removed " + name + " from the sale.";
    var focus = next ? next.querySelector("[data-remove-row]") : document.getElementById("product-search");
    if (focus) focus.focus();
    refreshMatches();
  });

  // The matches say which products the form has: ask again once a row came or went.
  function refreshMatches() {
    var search = document.getElementById("product-search");
    if (search && search.value.trim()) search.dispatchEvent(new Event("search"));
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "items-body") refreshMatches();
  });
})();
