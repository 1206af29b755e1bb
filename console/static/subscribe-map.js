// The sign-up map: the organisation's zones, and a pin the person places (kept in the lat/lon fields).
// Served by Tocsin with Leaflet; no tiles unless the organisation configured its own tile server.
(function () {
  "use strict";
  var box = document.getElementById("signup-map");
  if (!box || typeof L === "undefined") { return; }
  var lat = document.getElementById("lat"), lon = document.getElementById("lon");
  var map = L.map(box, { attributionControl: false });
  if (box.dataset.tiles) { L.tileLayer(box.dataset.tiles, { maxZoom: 19 }).addTo(map); }
  var zones = JSON.parse(document.getElementById("signup-zones").textContent || "[]");
  var layer = L.geoJSON({ type: "FeatureCollection", features: zones.map(function (g) {
    return { type: "Feature", geometry: g, properties: {} };
  }) }, { style: { color: "#1d5fbf", weight: 2, fillOpacity: 0.1 } }).addTo(map);
  if (zones.length) { map.fitBounds(layer.getBounds(), { padding: [10, 10] }); } else { map.setView([0, 0], 2); }
  var marker = null;
  function place(latlng) {
    if (marker) { marker.setLatLng(latlng); } else {
      marker = L.circleMarker(latlng, { radius: 8, color: "#b3261e", fillOpacity: 0.8 }).addTo(map);
    }
    lat.value = latlng.lat.toFixed(6);
    lon.value = latlng.lng.toFixed(6);
  }
  if (lat.value && lon.value && !isNaN(+lat.value) && !isNaN(+lon.value)) {
    place(L.latLng(+lat.value, +lon.value));
  }
  map.on("click", function (event) { place(event.latlng); });
})();
