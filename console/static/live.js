/* The alert page's live view: counters and the accountability board change in place.
   Server-sent events from /alerts/{id}/events say when something changed ("state": the counts;
   "change": an answer or an escalation run, so the board is fetched again from board.json).
   Written for old browsers too (no arrow functions, no fetch); without EventSource it polls.
   Without JavaScript the page still shows the state as loaded, with a Refresh link. */
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.XMLHttpRequest) { return; }
  var eventsUrl = root.getAttribute("data-events");
  var boardUrl = root.getAttribute("data-board");
  var indicator = document.getElementById("live-indicator");
  var alertId = root.getAttribute("data-alert");
  var source = null;
  var retryMs = 1000;
  var lastResponses = null;
  var boardTimer = null;
  var POLL_MS = 5000;

  function say(text, state) {
    if (!indicator) { return; }
    indicator.textContent = text;
    indicator.className = "indicator " + (state || "");
  }

  function setText(element, value) {
    if (element && element.textContent !== String(value)) {
      element.textContent = String(value);
      element.className = (element.className.replace(/\s*changed/g, "") + " changed");
    }
  }

  function applyState(state) {
    if (!state) { return; }
    var status = root.ownerDocument.querySelector("[data-live=status]");
    if (status) {
      status.textContent = String(state.status).replace(/_/g, " ");
      status.className = "status status-" + state.status;
    }
    setText(root.querySelector("[data-live=recipients]"), state.recipients);
    setText(root.querySelector("[data-live=unreachable]"), state.unreachable);
    var channel, column, row;
    for (channel in state.progress) {
      if (!state.progress.hasOwnProperty(channel)) { continue; }
      row = root.querySelector("tr[data-channel='" + channel + "']");
      if (!row) { continue; }
      for (column in state.progress[channel]) {
        if (state.progress[channel].hasOwnProperty(column)) {
          setText(row.querySelector("[data-count='" + column + "']"), state.progress[channel][column]);
        }
      }
    }
    var key;
    for (key in state.responses) {
      if (state.responses.hasOwnProperty(key)) {
        setText(root.querySelector("[data-response='" + key + "']"), state.responses[key]);
      }
    }
    var responses = signature(state.responses);
    if (responses !== lastResponses) { refetchBoard(); }
    lastResponses = responses;
  }

  function signature(responses) {  // the same counts give the same text, whatever the key order
    var keys = [], key, i, parts = [];
    for (key in responses) { if (responses.hasOwnProperty(key)) { keys.push(key); } }
    keys.sort();
    for (i = 0; i < keys.length; i++) { parts.push(keys[i] + "=" + responses[keys[i]]); }
    return parts.join(",");
  }

  function shownResponses() {  // the counts the page was rendered with
    var shown = {}, elements = root.querySelectorAll("[data-response]"), i;
    for (i = 0; i < elements.length; i++) {
      shown[elements[i].getAttribute("data-response")] = elements[i].textContent;
    }
    return signature(shown);
  }

  function personItem(group, person) {
    var li = document.createElement("li");
    li.className = "person " + group;
    li.setAttribute("data-person", person.external_id);
    var link = document.createElement("a");
    link.href = "/alerts/" + alertId + "/people/" + encodeURIComponent(person.external_id);
    link.textContent = person.name || person.external_id;
    var note = document.createElement("span");
    note.className = "muted";
    note.textContent = " " + person.external_id + " \u00b7 " + String(person.state).replace(/_/g, " ");
    li.appendChild(link);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(note);
    return li;
  }

  function renderBoard(groups) {
    var i, j, section, list, more, group, empty;
    for (i = 0; i < groups.length; i++) {
      group = groups[i];
      section = root.querySelector("[data-group='" + group.key + "']");
      if (!section) { continue; }
      setText(section.querySelector("[data-group-count]"), group.count);
      list = section.querySelector("ul.people");
      while (list.firstChild) { list.removeChild(list.firstChild); }
      for (j = 0; j < group.people.length; j++) { list.appendChild(personItem(group.key, group.people[j])); }
      if (!group.people.length) {
        empty = document.createElement("li");
        empty.className = "none muted";
        empty.textContent = "No one.";
        list.appendChild(empty);
      }
      more = section.querySelector(".more-link");
      if (more) {
        if (group.more) { more.removeAttribute("hidden"); more.querySelector("a").href = group.more; }
        else { more.setAttribute("hidden", ""); }
      }
    }
  }

  function getJson(url, done) {
    var request = new XMLHttpRequest();
    request.open("GET", url, true);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      if (request.status === 200) {
        try { done(JSON.parse(request.responseText)); } catch (e) { /* a sign-in page: leave as is */ }
      }
    };
    request.send();
  }

  function refetchBoard() {
    if (boardTimer) { return; }  // several answers at once: one fetch
    boardTimer = setTimeout(function () {
      boardTimer = null;
      getJson(boardUrl, function (body) {
        lastResponses = signature(body.alert.responses);
        applyState(body.alert);
        renderBoard(body.board);
      });
    }, 200);
  }

  function connect() {
    source = new window.EventSource(eventsUrl);
    source.addEventListener("open", function () {
      retryMs = 1000;
      say("Live: updates as answers and receipts arrive.", "on");
    });
    source.addEventListener("state", function (event) { applyState(JSON.parse(event.data)); });
    source.addEventListener("change", function () { refetchBoard(); });
    source.onerror = function () {
      say("Reconnecting\u2026 (the numbers may be behind; Refresh shows the latest)", "off");
      if (source.readyState === window.EventSource.CLOSED) {  // the browser gave up: try again later
        source.close();
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    };
  }

  function poll() {
    getJson(boardUrl, function (body) { applyState(body.alert); renderBoard(body.board); });
    setTimeout(poll, POLL_MS);
  }

  lastResponses = shownResponses();
  if (window.EventSource) { connect(); } else { say("Updates every few seconds.", "on"); setTimeout(poll, POLL_MS); }
  window.addEventListener("beforeunload", function () { if (source) { source.close(); } });
})();
