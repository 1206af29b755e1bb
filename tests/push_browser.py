"""Running console/static's browser scripts (the service worker, the subscribe page) in node, inside a
small fake browser whose fetch reaches the live test server."""
from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import pytest

from console.api_push import STATIC



SW_HARNESS = """
const [swPath, payload, action] = process.argv.slice(1);
const listeners = {}, shown = [], opened = [], fetched = [];
globalThis.self = {
  addEventListener: (type, listener) => { listeners[type] = listener; },
  skipWaiting: async () => {},
  registration: {showNotification: async (title, options) => { shown.push({title, options}); }},
  clients: {claim: async () => {}, openWindow: async (url) => { opened.push(url); return null; }},
};
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => {
  const response = await realFetch(url, init);
  fetched.push({url, method: init.method, headers: init.headers, body: init.body, status: response.status});
  return response;
};
require("vm").runInThisContext(require("fs").readFileSync(swPath, "utf8"));
async function dispatch(type, event) {
  const waits = [];
  event.waitUntil = (promise) => waits.push(promise);
  listeners[type](event);
  await Promise.all(waits);
}
(async () => {
  await dispatch("push", {data: {json: () => JSON.parse(payload), text: () => payload}});
  const options = shown[0].options;
  await dispatch("notificationclick", {action, notification: {data: options.data, tag: options.tag, close() {}}});
  process.stdout.write(JSON.stringify({shown, opened, fetched}));
})().catch((error) => { console.error(error); process.exit(1); });
"""


async def run_node(harness: str, *args: str, stdin: bytes = b"") -> dict[str, Any]:
    """A script of console/static in node, with a fake browser around it; its fetch reaches the live server."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser-side scripts cannot be run")
    process = await asyncio.create_subprocess_exec(node, "-e", harness, *args, stdin=asyncio.subprocess.PIPE,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(stdin), 30)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


async def run_service_worker(payload: str, action: str) -> dict[str, Any]:
    return await run_node(SW_HARNESS, str(STATIC / "sw.js"), payload, action)


PAGE_HARNESS = """
const [script, pageUrl, subscription] = process.argv.slice(1);
const calls = {}, answers = [];
const root = {dataset: {}}, button = {addEventListener: (type, listener) => { button.click = listener; }};
const status = {textContent: ""};
const html = require("fs").readFileSync(0, "utf8");  // the page, for its data attributes
for (const [, name, value] of html.matchAll(/data-([a-z-]+)="([^"]*)"/g)) {
  root.dataset[name.replace(/-([a-z])/g, (m, c) => c.toUpperCase())] = value.replace(/&amp;/g, "&");
}
const elements = {"tocsin-subscribe": root, subscribe: button, status};
globalThis.document = {getElementById: (id) => elements[id]};
globalThis.window = globalThis;
globalThis.PushManager = function () {};
globalThis.Notification = {requestPermission: async () => "granted"};
const pushManager = {
  getSubscription: async () => null,
  subscribe: async (options) => {
    calls.subscribe = {userVisibleOnly: options.userVisibleOnly,
                       key: Buffer.from(options.applicationServerKey).toString("base64url")};
    return {toJSON: () => JSON.parse(subscription)};
  },
};
Object.defineProperty(globalThis, "navigator", {configurable: true, value: {serviceWorker: {
  ready: Promise.resolve(),
  register: async (url, options) => {
    calls.register = {url: new URL(url, pageUrl).href, scope: new URL(options.scope, pageUrl).href};
    return {pushManager};
  },
}}});
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => {
  const response = await realFetch(new URL(url, pageUrl), init);
  answers.push({url: new URL(url, pageUrl).href, status: response.status, body: init.body});
  return response;
};
require("vm").runInThisContext(require("fs").readFileSync(script, "utf8"));
button.click();
(async () => {
  while (!/^Alerts (are on|could not)/.test(status.textContent)) await new Promise((r) => setTimeout(r, 20));
  process.stdout.write(JSON.stringify({calls, answers, status: status.textContent}));
})();
"""
