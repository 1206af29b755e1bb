"""Every URL the application serves, in one place."""
from __future__ import annotations

from aiohttp import web

from console import api_alerts, api_directory, api_geo, health, hooks_twilio


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    # JSON API (bearer tokens)
    app.router.add_post("/api/v1/recipients", api_directory.create_recipients)
    app.router.add_post("/api/v1/recipients/import", api_directory.import_recipients)
    app.router.add_get("/api/v1/recipients/{external_id}", api_directory.get_recipient)
    app.router.add_get("/api/v1/groups", api_directory.list_groups)
    app.router.add_post("/api/v1/groups", api_directory.create_group)
    app.router.add_get("/api/v1/zones", api_geo.list_zones)
    app.router.add_post("/api/v1/zones", api_geo.create_zone)
    app.router.add_get("/api/v1/zones/{name}", api_geo.get_zone)
    app.router.add_delete("/api/v1/zones/{name}", api_geo.delete_zone)
    app.router.add_post("/api/v1/targets/preview", api_geo.preview_target)
    app.router.add_get("/api/v1/alerts", api_alerts.list_alerts)
    app.router.add_post("/api/v1/alerts", api_alerts.create_alert)
    app.router.add_get("/api/v1/alerts/{alert_id}", api_alerts.get_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/send", api_alerts.send_alert)
    app.router.add_get("/api/v1/alerts/{alert_id}/recipients", api_alerts.alert_recipients)
    # Provider webhooks (signed by the provider)
    app.router.add_post("/hooks/twilio/sms", hooks_twilio.inbound_sms)
    app.router.add_post("/hooks/twilio/status", hooks_twilio.status_callback)
