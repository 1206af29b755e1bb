"""Every URL the application serves, in one place."""
from __future__ import annotations

from aiohttp import web

from console import (api_alerts, api_cap, api_directory, api_imports, api_keywords, api_privacy, public_signup, api_escalation, api_geo, api_providers, api_push, health,
                     hooks_twilio, hooks_voice, metrics_routes, pages_admin, pages_alerts, pages_auth, pages_compose,
                     pages_directory, pages_home, pages_quick_launch, pages_schedule, pages_templates,
                     respond_pages)
from console.render import STATIC


def setup_routes(app: web.Application) -> None:
    # The console (server-rendered pages; session cookie + CSRF, see console/session.py)
    app.router.add_get("/", pages_home.home)
    app.router.add_get("/login", pages_auth.login_page)
    app.router.add_post("/login", pages_auth.login)
    app.router.add_post("/logout", pages_auth.logout)
    pages_compose.setup(app)        # /compose: template or free text, map, reach preview, confirm, send
    pages_templates.setup(app)      # /templates: the library (admins edit, operators use)
    pages_alerts.setup(app)         # /alerts, /alerts/{id}: live view, board, timelines, follow-ups
    pages_schedule.setup(app)       # /calendar, scheduled sends, two-person approvals
    pages_quick_launch.setup(app)   # /quick-launch (admin) and /launch/{secret}
    pages_directory.setup(app)      # /recipients, /groups, /zones
    pages_admin.setup(app)          # /policies, /providers, /audit, /users
    # CAP 1.2: /api/v1/cap, /api/v1/cap/feeds, /api/v1/alerts/{id}.cap, /cap/feed.atom, /cap/alerts/{id}.cap
    api_cap.setup(app)
    # Residents opt in themselves (public, no login), keywords, privacy
    public_signup.setup(app)   # /subscribe: sign-up, verification, manage/delete
    api_keywords.setup(app)    # GET/PUT /api/v1/keywords
    api_privacy.setup(app)     # GET /api/v1/recipients/{external_id}/export, POST .../erase
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    metrics_routes.setup(app)       # /metrics (Prometheus)
    # Answer links in emails and push notifications (no login: the signed token is the credential)
    app.router.add_get("/r/{token}", respond_pages.confirm_page)
    app.router.add_post("/r/{token}", respond_pages.record_answer)
    # Web Push: a person's subscribe page (signed link), its script and service worker, the API
    app.router.add_get("/p/{token}", api_push.recipient_page)
    app.router.add_post("/p/{token}/subscriptions", api_push.page_subscribe)
    app.router.add_post("/p/{token}/location", api_push.page_location)
    app.router.add_get("/static/subscribe.js", api_push.subscribe_script)
    app.router.add_get("/sw.js", api_push.service_worker)
    app.router.add_get("/push/vapid-public-key", api_push.vapid_public_key)
    app.router.add_get("/api/v1/push/vapid-public-key", api_push.vapid_public_key)
    app.router.add_post("/api/v1/recipients/{external_id}/push-subscriptions", api_push.add_subscription)
    app.router.add_get("/api/v1/recipients/{external_id}/push-link", api_push.push_link)
    # JSON API (bearer tokens)
    app.router.add_post("/api/v1/recipients", api_directory.create_recipients)
    app.router.add_post("/api/v1/recipients/import", api_directory.import_recipients)
    app.router.add_get("/api/v1/imports/{import_id}", api_imports.get_import)
    app.router.add_get("/api/v1/recipients/{external_id}", api_directory.get_recipient)
    app.router.add_get("/api/v1/groups", api_directory.list_groups)
    app.router.add_post("/api/v1/groups", api_directory.create_group)
    app.router.add_get("/api/v1/zones", api_geo.list_zones)
    app.router.add_post("/api/v1/zones", api_geo.create_zone)
    app.router.add_get("/api/v1/zones/{name}", api_geo.get_zone)
    app.router.add_delete("/api/v1/zones/{name}", api_geo.delete_zone)
    app.router.add_post("/api/v1/targets/preview", api_geo.preview_target)
    app.router.add_get("/api/v1/providers/health", api_providers.health)
    app.router.add_get("/api/v1/alerts", api_alerts.list_alerts)
    app.router.add_post("/api/v1/alerts", api_alerts.create_alert)
    app.router.add_get("/api/v1/alerts/{alert_id}", api_alerts.get_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/send", api_alerts.send_alert)
    app.router.add_get("/api/v1/alerts/{alert_id}/recipients", api_alerts.alert_recipients)
    app.router.add_get("/api/v1/incidents/{incident_id}", api_alerts.incident_board)
    # Escalation and accountability
    app.router.add_get("/api/v1/policies", api_escalation.list_policies)
    app.router.add_post("/api/v1/policies", api_escalation.create_policy)
    app.router.add_get("/api/v1/alerts/{alert_id}/report", api_escalation.get_report)
    app.router.add_post("/api/v1/alerts/{alert_id}/cancel", api_escalation.cancel_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/close", api_escalation.close_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/recipients/{external_id}/status", api_escalation.recipient_status)
    # Provider webhooks (signed by the provider)
    app.router.add_post("/hooks/twilio/sms", hooks_twilio.inbound_sms)
    app.router.add_post("/hooks/twilio/status", hooks_twilio.status_callback)
    app.router.add_post("/hooks/twilio/voice", hooks_voice.answered)
    app.router.add_post("/hooks/twilio/voice/gather", hooks_voice.gathered)
    app.router.add_post("/hooks/twilio/call-status", hooks_voice.call_status)
    # Console assets, Leaflet included (copied from the npm registry's packages by `make install`)
    app.router.add_static("/static/", STATIC)
