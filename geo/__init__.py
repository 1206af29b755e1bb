"""Geographic targeting: geofences, recipient locations, and who is inside a zone (issue: geofence targeting)."""
