// mailtrace dashboard: comforts on top of server-rendered pages. Text from the logs is only
// ever read from and written to `textContent`, never to markup.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var zone = "UTC";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* old browser */ }
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  var local = function (d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  };

  function times() {
    var name = document.getElementById("tz-name");
    if (name) { name.textContent = zone; }
    document.querySelectorAll("time.ts").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      t.title = t.textContent; // the UTC time
      t.textContent = local(d);
    });
  }

  var DEFAULT = ["time", "server", "queue_id", "from", "to", "status", "subject"];
  var KEY = "mailtrace.columns";

  function chosen() {
    try {
      var v = JSON.parse(localStorage.getItem(KEY) || "null");
      if (Array.isArray(v)) { return v.filter(function (c) { return typeof c === "string"; }); }
    } catch (e) { /* storage disabled or garbage */ }
    return DEFAULT.slice();
  }

  function applyColumns(cols) {
    var table = document.getElementById("results");
    if (!table) { return; }
    document.querySelectorAll("#show-fields input[name=col]").forEach(function (box) {
      var c = box.value, on = cols.indexOf(c) >= 0, dflt = DEFAULT.indexOf(c) >= 0;
      box.checked = on;
      table.classList.toggle("show-" + c, on && !dflt);
      table.classList.toggle("hide-" + c, !on && dflt);
    });
  }

  function columns() {
    var boxes = document.querySelectorAll("#show-fields input[name=col]");
    if (!boxes.length) { return; }
    applyColumns(chosen());
    boxes.forEach(function (box) {
      box.addEventListener("change", function () {
        var cols = [];
        document.querySelectorAll("#show-fields input[name=col]").forEach(function (b) {
          if (b.checked) { cols.push(b.value); }
        });
        try { localStorage.setItem(KEY, JSON.stringify(cols)); } catch (e) { /* not remembered */ }
        applyColumns(cols);
      });
    });
  }

  function form() {
    var f = document.getElementById("search") || document.getElementById("stats-form");
    if (!f) { return; }
    // Statistics are bucketed by day and hour: ask for them in the browser's zone.
    if (f.id === "stats-form" && !new URLSearchParams(location.search).has("tz") && zone !== "UTC") {
      var u = new URL(location.href);
      u.searchParams.set("tz", zone);
      location.replace(u.toString());
      return;
    }
    var tz = document.getElementById("tz");
    var when = document.getElementById("when");
    var since = document.getElementById("since");
    var until = document.getElementById("until");
    // Dates typed without a zone, and Today/Yesterday, mean the browser's zone; dates already
    // in the form keep the zone they were read in (the form says which).
    var dated = (since && since.value) || (until && until.value);
    if (tz && !dated && tz.value !== zone) {
      tz.value = zone;
      document.querySelectorAll(".range-tz").forEach(function (el) { el.textContent = zone; });
    }
    if (when && !when.value && ((since && since.value) || (until && until.value))) { when.value = "custom"; }
    var range = function () {
      var custom = when && when.value === "custom";
      document.querySelectorAll(".custom-range").forEach(function (el) { el.classList.toggle("off", !custom); });
      [since, until].forEach(function (i) { if (i) { i.disabled = !custom; } });
    };
    if (when) { when.addEventListener("change", range); range(); }
    var pick = document.getElementById("domain-pick");
    if (pick) {
      pick.addEventListener("change", function () {
        if (pick.value) { document.getElementById("from").value = pick.value; }
      });
    }
    // Leave empty fields out of the URL, so that a search reads well when bookmarked or shared.
    f.addEventListener("submit", function () {
      f.querySelectorAll("input, select").forEach(function (el) {
        if (!el.value || (el.id === "limit" && el.value === "50")) { el.disabled = true; }
      });
    });
    window.addEventListener("pageshow", function () {
      f.querySelectorAll("input, select").forEach(function (el) { el.disabled = false; });
      range();
    });
  }

  // A whole result row opens its message; the message page's back link returns to the search.
  function navigation() {
    var KEY_SEARCH = "mailtrace.search";
    var results = document.getElementById("results");
    if (results) {
      try { sessionStorage.setItem(KEY_SEARCH, location.pathname + location.search); } catch (e) { /* none */ }
      results.addEventListener("click", function (ev) {
        var row = ev.target.closest("tr.msg");
        if (!row || ev.target.closest("a") || String(window.getSelection() || "")) { return; }
        var id = row.getAttribute("data-id");
        if (/^-?[0-9]+$/.test(id)) { location.href = "/message/" + id; }
      });
    }
    var back = document.getElementById("back");
    if (back) {
      var saved = null;
      try { saved = sessionStorage.getItem(KEY_SEARCH); } catch (e) { /* none */ }
      if (saved && saved.charAt(0) === "/" && saved.charAt(1) !== "/") { back.setAttribute("href", saved); }
    }
  }

  // The live page: poll the API and rebuild the rows in place (text only, never markup).
  function live() {
    var table = document.getElementById("live");
    if (!table || !window.fetch) { return; }
    // The API request with the page's criteria (the server rendered it from the page's own
    // query); only ever this server's message list.
    var url;
    try {
      var u = new URL(table.getAttribute("data-poll") || "/api/v1/messages", location.href);
      if (u.origin !== location.origin || u.pathname !== "/api/v1/messages") { return; }
      u.searchParams.set("limit", "100");
      url = u.pathname + u.search;
    } catch (e) { return; }
    var body = table.querySelector("tbody");
    var seen = {};
    body.querySelectorAll("tr.msg").forEach(function (r) { seen[r.getAttribute("data-id")] = true; });
    var cell = function (tr, cls, text) {
      var td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      tr.appendChild(td);
      return td;
    };
    var render = function (messages) {
      var rows = document.createDocumentFragment();
      var next = {};
      messages.forEach(function (m) {
        var id = String(m.id);
        if (!/^-?[0-9]+$/.test(id)) { return; }
        next[id] = true;
        var tr = document.createElement("tr");
        tr.className = "msg" + (seen[id] ? "" : " new");
        tr.setAttribute("data-id", id);
        var td = cell(tr, "c-time", "");
        var a = document.createElement("a");
        a.className = "msg-link";
        a.href = "/message/" + id;
        var d = new Date(m.received_at);
        a.textContent = isNaN(d.getTime()) ? String(m.received_at) : local(d);
        td.appendChild(a);
        cell(tr, "c-server", m.server || "");
        cell(tr, "c-queue_id", m.queue_id || "");
        cell(tr, "c-from", m.sender === "" ? "<>" : (m.sender || ""));
        cell(tr, "c-to", (m.recipients || []).map(function (r) { return r.address; }).join(", "));
        cell(tr, "c-subject", m.subject || "");
        var st = cell(tr, "c-status", "");
        var badge = document.createElement("span");
        var status = /^[a-z]+$/.test(m.status) ? m.status : "unknown";
        badge.className = "badge st-" + status;
        badge.textContent = status;
        st.appendChild(badge);
        rows.appendChild(tr);
      });
      body.replaceChildren(rows);
      seen = next;
    };
    var total = document.getElementById("live-total");
    var updated = document.getElementById("live-updated");
    var poll = function () {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (j) {
          render(j.messages || []);
          if (total) { total.textContent = String(j.total); }
          updated.textContent = "updated " + local(new Date()).slice(11);
        })
        .catch(function (e) { updated.textContent = "update failed: " + e.message; })
        .then(function () { window.setTimeout(poll, 2000); });
    };
    window.setTimeout(poll, 2000);
  }

  // The live page's server pick list: picking one shows that server (the button does it
  // without this script).
  function liveFilter() {
    var f = document.getElementById("live-filter");
    var pick = document.getElementById("live-server");
    if (!f || !pick) { return; }
    var leaveOutEmpty = function () {
      // "All servers" is /live, not /live?server=
      f.querySelectorAll("input, select").forEach(function (el) { if (!el.value) { el.disabled = true; } });
    };
    f.addEventListener("submit", leaveOutEmpty);
    pick.addEventListener("change", function () { leaveOutEmpty(); f.submit(); });
    window.addEventListener("pageshow", function () {
      f.querySelectorAll("input, select").forEach(function (el) { el.disabled = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    times();
    columns();
    form();
    navigation();
    live();
    liveFilter();
  });
}());
