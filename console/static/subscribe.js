/* The recipient page's one button: ask for permission to notify, register the service worker,
 * subscribe this browser with Tocsin's VAPID key, and post the subscription to this person's
 * signed link. The page holds the key and the URL in data attributes (no inline script). */
"use strict";

(function () {
  const root = document.getElementById("tocsin-subscribe");
  const button = document.getElementById("subscribe");
  const status = document.getElementById("status");
  if (!root || !button || !status) return;

  function say(text) {
    status.textContent = text;
  }

  function keyBytes(base64url) {
    const base64 = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function sameKey(buffer, bytes) {
    if (!buffer) return false;
    const other = new Uint8Array(buffer);
    return other.length === bytes.length && other.every((b, i) => b === bytes[i]);
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    button.disabled = true;
    say("This browser cannot receive alerts. On an iPhone or iPad, add this page to your Home Screen "
        + "first and open it from there; otherwise try another browser.");
    return;
  }

  async function subscribe() {
    const permission = await Notification.requestPermission();  // must follow the click directly
    if (permission !== "granted") {
      throw new Error("notifications are blocked for this site; allow them in the browser's settings");
    }
    const registration = await navigator.serviceWorker.register(root.dataset.serviceWorker, {scope: root.dataset.scope});
    await navigator.serviceWorker.ready;
    const key = keyBytes(root.dataset.vapidKey);
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
      await subscription.unsubscribe();  // made for another key: pushes signed with ours would fail
      subscription = null;
    }
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
    }
    const response = await fetch(root.dataset.subscribeUrl, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(subscription),
    });
    if (!response.ok) {
      let message = "HTTP " + response.status;
      try {
        message = (await response.json()).error.message || message;
      } catch (ignored) { /* keep the status */ }
      throw new Error(message);
    }
  }

  /* Only when the person ticked the box: the browser asks them again before it tells us anything. */
  function shareLocation() {
    const wanted = document.getElementById("share-location");
    if (!wanted || !wanted.checked || !("geolocation" in navigator) || !root.dataset.locationUrl) {
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      navigator.geolocation.getCurrentPosition((position) => {
        fetch(root.dataset.locationUrl, {
          method: "POST",
          headers: {"Content-Type": "application/json", "Accept": "application/json"},
          body: JSON.stringify({lat: position.coords.latitude, lon: position.coords.longitude}),
        }).then((response) => resolve(response.ok), () => resolve(false));
      }, () => resolve(false), {enableHighAccuracy: false, timeout: 15000, maximumAge: 600000});
    });
  }

  button.addEventListener("click", () => {
    button.disabled = true;
    say("Turning on alerts…");
    subscribe().then(async () => {
      const shared = await shareLocation();
      say("Alerts are on in this browser. You will see them even when this page is closed."
          + (shared === true ? " Your location was shared." : shared === false ? " Your location could not be shared." : ""));
    }, (error) => {
      button.disabled = false;
      say("Alerts could not be turned on: " + error.message);
    });
  });
})();
