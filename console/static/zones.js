/* Zones on a map: every zone (and grey dots where people are) on /zones, one zone on its page;
   for operators, Leaflet.draw tools whose shape fills the form's GeoJSON or circle fields.
   Everything is served by Tocsin; without a tile server the map is a plain background fitted to
   the zones. The form works without this script (paste GeoJSON or type a circle). */
(function () {
  "use strict";
  var element = document.getElementById("map");
  var source = document.getElementById("zones-data");
  if (!element || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var map = L.map(element, { zoomSnap: 0.25, attributionControl: Boolean(element.dataset.tiles) });
  if (element.dataset.tiles) {
    L.tileLayer(element.dataset.tiles, { maxZoom: 19 }).addTo(map);
  }
  L.control.scale().addTo(map);

  var bounds = L.latLngBounds([]);
  (data.positions || []).forEach(function (p) {
    L.circleMarker([p[0], p[1]], { radius: 2, weight: 0, fillColor: "#5b6270", fillOpacity: 0.55,
                                   interactive: false }).addTo(map);
    bounds.extend([p[0], p[1]]);
  });
  (data.zones || []).forEach(function (zone) {
    var layer = L.geoJSON(zone.display, { style: { color: "#1f4fa3", weight: 2, fillOpacity: 0.12 } });
    // Without tiles the names are the only landmarks: show them on the map (while there are few).
    var labelled = !element.dataset.tiles && data.zones.length <= 30;
    layer.bindTooltip(zone.name + " (" + zone.people + " people)",
                      labelled ? { permanent: true, direction: "center", className: "zone-label" } : {});
    layer.on("click", function () { window.location.href = "/zones/" + zone.id; });
    layer.addTo(map);
    bounds.extend(layer.getBounds());
  });
  if (bounds.isValid()) {
    map.fitBounds(bounds, { padding: [20, 20], maxZoom: 18 });
  } else {
    map.setView([0, 0], 2);
  }

  if (element.dataset.mode !== "draw" || typeof L.Control.Draw === "undefined") { return; }
  var form = document.getElementById("zone-form");
  if (!form) { return; }
  var geometry = form.querySelector("#geometry");
  var circle = { lat: form.querySelector("#circle_lat"), lon: form.querySelector("#circle_lon"),
                 radius: form.querySelector("#circle_radius_m") };
  var drawn = new L.FeatureGroup().addTo(map);
  var shape = { color: "#b3261e", weight: 3, fillOpacity: 0.15 };
  map.addControl(new L.Control.Draw({
    position: "topright",
    draw: { polygon: { allowIntersection: false, showArea: false, shapeOptions: shape },
            rectangle: { shapeOptions: shape }, circle: { shapeOptions: shape },
            polyline: false, marker: false, circlemarker: false },
    edit: { featureGroup: drawn }
  }));

  function round(x) { return Math.round(x * 1e6) / 1e6; }

  function fillForm() {
    var layers = drawn.getLayers();
    geometry.value = "";
    circle.lat.value = circle.lon.value = circle.radius.value = "";
    if (!layers.length) { return; }
    var layer = layers[0];
    if (layer instanceof L.Circle) {
      var centre = layer.getLatLng();
      circle.lat.value = round(centre.lat);
      circle.lon.value = round(centre.lng);
      circle.radius.value = Math.round(layer.getRadius());
    } else {
      geometry.value = JSON.stringify(layer.toGeoJSON(6).geometry);
    }
  }

  map.on(L.Draw.Event.CREATED, function (event) {
    drawn.clearLayers();  // one shape per zone: a new drawing replaces the last
    drawn.addLayer(event.layer);
    fillForm();
    var name = form.querySelector("#name");
    if (name && !name.value) { name.focus(); }
  });
  map.on(L.Draw.Event.EDITED, fillForm);
  map.on(L.Draw.Event.DELETED, fillForm);

  // A shape sent back with a form rejected for another reason (its name) is shown again.
  if (geometry.value.trim() && !document.getElementById("geometry-error")) {
    try {
      L.geoJSON(JSON.parse(geometry.value), { style: shape }).eachLayer(function (l) { drawn.addLayer(l); });
      if (drawn.getLayers().length) { map.fitBounds(drawn.getBounds(), { padding: [20, 20] }); }
    } catch (e) { /* the server has said why it is not GeoJSON */ }
  }
})();
