/* The composer's helpers: the map (Leaflet + Leaflet.draw, served by Tocsin), the live reach
   preview (POST /api/v1/targets/preview) and the per-channel previews (POST /compose/preview).
   The form works without this script: it only fills the same fields (geometry, circle) and shows
   numbers sooner. Nothing here loads anything from outside this server. */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // The review page: one press sends; a second press (double click) does nothing.
  var sendForm = document.querySelector("form.send-form");
  if (sendForm) {
    // The button says what it will do: send now, or schedule (the mode word stays in either).
    var later = document.getElementById("scheduled_for"), sendButton = document.getElementById("send-button");
    var nowLabel = sendButton.textContent;
    var relabel = function () {
      sendButton.textContent = later.value
        ? nowLabel.replace(/ now$/, "").replace(/^Send/, "Schedule") + " for " + later.value.replace("T", " ") + " UTC"
        : nowLabel;
    };
    later.addEventListener("input", relabel);
    later.addEventListener("change", relabel);
    relabel();
    sendForm.addEventListener("submit", function () {
      var button = sendForm.querySelector("button[type=submit]");
      window.setTimeout(function () { button.disabled = true; button.textContent = "Sending…"; }, 0);
    });
  }

  var form = document.getElementById("compose-form");
  if (!form) { return; }
  // Without this script the map cannot work, so it stays hidden and the GeoJSON field stands in.
  form.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  // The page takes the colour of the chosen mode, so LIVE and DRILL never look alike while composing.
  function showMode() {
    var mode = (form.querySelector('input[name="mode"]:checked') || {}).value;
    document.body.classList.toggle("mode-live", mode === "live");
    document.body.classList.toggle("mode-drill", mode === "drill");
  }
  form.addEventListener("change", function (e) { if (e.target.name === "mode") { showMode(); } });
  showMode();
  var geometry = document.getElementById("geometry");
  var circle = document.getElementById("circle");
  var circleNote = document.getElementById("circle-note");
  var reach = document.getElementById("reach");

  function debounce(fn, ms) {
    var timer = null;
    return function () { window.clearTimeout(timer); timer = window.setTimeout(fn, ms); };
  }

  function checked(name) {
    return Array.prototype.map.call(form.querySelectorAll('input[name="' + name + '"]:checked'),
                                    function (input) { return input.value; });
  }

  // ---- the target, as the API takes it ----------------------------------------------------
  function target() {
    var t = {};
    var groups = checked("groups"), zones = checked("zones");
    if (groups.length) { t.groups = groups; }
    if (zones.length) { t.zones = zones; }
    try {
      if (geometry.value.trim()) { t.geometry = JSON.parse(geometry.value); }
      if (circle.value.trim()) { t.circle = JSON.parse(circle.value); }
    } catch (e) { return { invalid: "the GeoJSON is not valid JSON" }; }
    return t;
  }

  var reachSeq = 0;
  function updateReach() {
    var t = target(), seq = ++reachSeq;
    var people = reach.querySelector(".reach-people"), contacts = reach.querySelector(".reach-contacts");
    if (t.invalid) { reach.className = "reach error"; people.textContent = t.invalid; contacts.textContent = ""; return; }
    if (!Object.keys(t).length) {
      reach.className = "reach"; people.textContent = "No one chosen yet"; contacts.textContent = ""; return;
    }
    fetch("/api/v1/targets/preview", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(t)
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (answer) {
        if (seq !== reachSeq) { return; }  // a newer preview is on its way
        if (!answer.ok) {
          reach.className = "reach error";
          people.textContent = (answer.body.error && answer.body.error.message) || "could not count";
          contacts.textContent = "";
          return;
        }
        var b = answer.body, names = { sms: "SMS", voice: "voice", push: "web push", email: "email" };
        reach.className = "reach";
        reach.dataset.people = String(b.people);
        people.textContent = b.people.toLocaleString("en-US") + (b.people === 1 ? " person" : " people");
        contacts.textContent = "reachable: " + Object.keys(b.contacts).map(function (c) {
          return b.contacts[c].toLocaleString("en-US") + " by " + (names[c] || c);
        }).join(", ") + (b.warnings && b.warnings.length ? " — " + b.warnings.join("; ") : "");
      })
      .catch(function () { if (seq === reachSeq) { people.textContent = "(reach preview unavailable)"; } });
  }
  var reachSoon = debounce(updateReach, 250);

  // ---- per-channel previews ------------------------------------------------------------------
  var previews = document.getElementById("previews");
  var previewSoon = debounce(function () {
    var body = new URLSearchParams(new FormData(form));
    fetch("/compose/preview", {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (html === null) { return; }
      var open = Array.prototype.map.call(previews.querySelectorAll("details[open]"),
                                          function (d) { return d.dataset.language; });
      var heading = previews.querySelector("h2").outerHTML;
      previews.innerHTML = heading + html;
      previews.querySelectorAll("details").forEach(function (d) {
        if (open.indexOf(d.dataset.language) >= 0) { d.open = true; }
      });
    }).catch(function () {});
  }, 400);

  form.addEventListener("input", function (e) {
    if (e.target.name === "groups" || e.target.name === "zones" || e.target === geometry) { reachSoon(); }
    else { previewSoon(); }
  });
  form.addEventListener("change", function (e) {
    if (e.target.name === "groups" || e.target.name === "zones") { reachSoon(); syncZoneStyles(); }
    if (e.target.name === "channels" || e.target.name === "mode") { previewSoon(); }
  });

  // ---- the map ---------------------------------------------------------------------------------
  var mapEl = document.getElementById("map");
  var syncZoneStyles = function () {};
  if (mapEl && window.L) {
    var map = L.map(mapEl, { attributionControl: false, zoomSnap: 0.25 });
    var tileUrl = mapEl.dataset.tileUrl;
    if (tileUrl) { L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map); }
    var shapes = JSON.parse(document.getElementById("zone-shapes").textContent || "{}");
    var peopleBounds = JSON.parse(document.getElementById("people-bounds").textContent || "null");
    var zoneLayers = {};
    var all = L.featureGroup().addTo(map);
    var zoneStyle = function (on) {
      return { color: on ? "#1f4fa3" : "#5b6270", weight: on ? 3 : 1.5, fillOpacity: on ? 0.3 : 0.08,
               fillColor: on ? "#1f4fa3" : "#8a93a3", dashArray: on ? null : "4 3" };
    };
    var zoneBox = function (name) {
      return form.querySelector('input[name="zones"][value="' + CSS.escape(name) + '"]');
    };
    Object.keys(shapes).forEach(function (name) {
      var layer = L.geoJSON(shapes[name], { style: zoneStyle(false) });
      layer.bindTooltip(name, { permanent: true, direction: "center", className: "zone-label" });
      layer.on("click", function () {
        var box = zoneBox(name);
        if (box) { box.checked = !box.checked; syncZoneStyles(); reachSoon(); }
      });
      zoneLayers[name] = layer;
      all.addLayer(layer);
    });
    syncZoneStyles = function () {
      Object.keys(zoneLayers).forEach(function (name) {
        var box = zoneBox(name);
        zoneLayers[name].setStyle(zoneStyle(!!(box && box.checked)));
      });
    };
    syncZoneStyles();

    var drawn = L.featureGroup().addTo(map);
    // What was already in the form (an edit, or a form shown again after an error).
    try {
      if (geometry.value.trim()) { L.geoJSON(JSON.parse(geometry.value)).eachLayer(function (l) { drawn.addLayer(l); }); }
      if (circle.value.trim()) {
        var c = JSON.parse(circle.value);
        drawn.addLayer(L.circle([c.lat, c.lon], { radius: c.radius_m }));
      }
    } catch (e) { /* the textarea keeps what was typed; the server says what is wrong */ }

    var drawStyle = { color: "#b3261e", weight: 3, fillOpacity: 0.15 };
    map.addControl(new L.Control.Draw({
      position: "topleft",
      draw: { polygon: { allowIntersection: false, showArea: false, shapeOptions: drawStyle },
              rectangle: { shapeOptions: drawStyle, showArea: false },
              circle: { shapeOptions: drawStyle }, polyline: false, marker: false, circlemarker: false },
      edit: { featureGroup: drawn }
    }));

    var writeShape = function () {
      var layers = drawn.getLayers();
      geometry.value = ""; circle.value = ""; circleNote.textContent = "";
      if (layers.length) {
        var layer = layers[layers.length - 1];
        if (layer instanceof L.Circle) {
          var centre = layer.getLatLng();
          var value = { lat: +centre.lat.toFixed(6), lon: +centre.lng.toFixed(6), radius_m: Math.round(layer.getRadius()) };
          circle.value = JSON.stringify(value);
          circleNote.textContent = "A circle of " + value.radius_m.toLocaleString("en-US") + " m is drawn on the map.";
        } else {
          geometry.value = JSON.stringify(layer.toGeoJSON().geometry);  // GeoJSON: [lon, lat]
        }
      }
      reachSoon();
    };
    map.on(L.Draw.Event.CREATED, function (e) {
      drawn.clearLayers();  // one drawn area at a time; zones and groups add to it
      drawn.addLayer(e.layer);
      writeShape();
    });
    map.on(L.Draw.Event.EDITED, writeShape);
    map.on(L.Draw.Event.DELETED, writeShape);

    var bounds = all.getBounds();
    if (drawn.getLayers().length) { bounds = bounds.isValid() ? bounds.extend(drawn.getBounds()) : drawn.getBounds(); }
    if (bounds.isValid()) { map.fitBounds(bounds.pad(0.15)); }
    else if (peopleBounds) { map.fitBounds([[peopleBounds[0], peopleBounds[1]], [peopleBounds[2], peopleBounds[3]]], { padding: [20, 20] }); }
    else { map.setView([20, 0], 2); }
  }

  updateReach();
})();
