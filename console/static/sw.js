/* Tocsin's service worker: shows an alert pushed to this browser, and sends the person's answer
 * ("I'm safe" / "I need help") straight back to Tocsin from the notification's buttons.
 *
 * The push payload is JSON built by alerting/compose.py:push_payload:
 *   {title, body, org, alert_id, drill, respond_url, actions: [{action, title}, ...]}
 * respond_url is signed for this person and alert: it is the only credential the answer needs.
 */
"use strict";

const ANSWERS = {safe: "I'm safe", need_help: "I need help"};

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function readPayload(event) {
  if (!event.data) return {};
  try {
    return event.data.json();
  } catch (error) {
    return {body: event.data.text()};  // not JSON: still show what arrived rather than nothing
  }
}

self.addEventListener("push", (event) => {
  const alert = readPayload(event);
  const actions = (Array.isArray(alert.actions) ? alert.actions : [])
    .filter((a) => a && ANSWERS[a.action])
    .map((a) => ({action: a.action, title: String(a.title || ANSWERS[a.action])}));
  const options = {
    body: String(alert.body || ""),
    tag: "alert-" + (alert.alert_id != null ? alert.alert_id : "unknown"),
    renotify: true,            // an update to the same alert must still make a sound
    requireInteraction: true,  // an emergency stays on screen until the person acts on it
    actions: alert.respond_url ? actions : [],
    data: {respond_url: alert.respond_url || null},
  };
  event.waitUntil(self.registration.showNotification(String(alert.title || "Alert"), options));
});

async function answer(respondUrl, value, tag) {
  try {
    const response = await fetch(respondUrl, {
      method: "POST",
      headers: {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
      body: "answer=" + encodeURIComponent(value) + "&via=push",
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    // Tocsin's answer says what was recorded (and, for "need help", whom to contact meanwhile).
    const result = await response.json().catch(() => ({}));
    await self.registration.showNotification(result.recorded === false ? "Answer not recorded" : "Answer sent", {
      body: String(result.message || "You told us: " + ANSWERS[value] + "."), tag: tag + "-answer",
    });
  } catch (error) {
    // The answer did not reach Tocsin (offline, link expired): open the page to answer there.
    await self.clients.openWindow(respondUrl);
  }
}

self.addEventListener("notificationclick", (event) => {
  const notification = event.notification;
  const respondUrl = notification.data && notification.data.respond_url;
  notification.close();
  if (!respondUrl) return;
  if (ANSWERS[event.action]) {
    event.waitUntil(answer(respondUrl, event.action, notification.tag));
  } else {
    // A click on the body: the answer page, which records the answer as given through push.
    event.waitUntil(self.clients.openWindow(respondUrl + "?via=push"));
  }
});
