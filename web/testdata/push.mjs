// Runs web/static/sw.js and web/static/notify.js in Node with stubs of the
// browser's APIs, and prints what they did as JSON, for web_test.go.
//
// node testdata/push.mjs static/sw.js static/notify.js
import { readFileSync } from "node:fs";
import vm from "node:vm";

const [swPath, notifyPath] = process.argv.slice(2);
const out = {};

// The service worker: a push, a push of something else, a click.
{
  const listeners = {};
  const shown = [];
  const opened = [];
  const self = {
    registration: {
      scope: "https://app.example.com/demo/",
      showNotification: (title, options) => { shown.push({ title, options }); return Promise.resolve(); },
    },
    clients: {
      matchAll: async () => [{ url: "https://app.example.com/other", focus: () => opened.push("focus") }],
      openWindow: async (url) => { opened.push(url); },
    },
    addEventListener: (type, f) => { listeners[type] = f; },
  };
  vm.runInNewContext(readFileSync(swPath, "utf8"), { self, URL, encodeURIComponent });
  const waits = [];
  const push = (data) => listeners.push({ data: data === null ? null : { json: () => JSON.parse(data) }, waitUntil: (p) => waits.push(p) });
  push('{"type":"room-entered","roomID":"r-1","userName":"carol","url":"https://app.example.com/?room=r-1"}');
  push('{"type":"room-entered","roomID":"r-2"}');
  push('{"type":"something-else"}');
  push("not json");
  push(null);
  let closed = 0;
  listeners.notificationclick({
    notification: { close: () => closed++, data: { url: "https://app.example.com/?room=r-1" } },
    waitUntil: (p) => waits.push(p),
  });
  await Promise.all(waits);
  out.sw = { shown, opened, closed };
}

// notify.js: a browser with a subscription made with another key, then a
// fresh one.
{
  const calls = [];
  let existing = {
    endpoint: "https://push.example.net/old",
    options: { applicationServerKey: new Uint8Array([1, 2, 3]).buffer },
    unsubscribe: async () => { calls.push("unsubscribe old"); return true; },
  };
  const fresh = {
    endpoint: "https://fcm.googleapis.com/fcm/send/new",
    toJSON: () => ({ endpoint: "https://fcm.googleapis.com/fcm/send/new", expirationTime: null, keys: { p256dh: "BKey", auth: "auth" } }),
  };
  const registration = {
    pushManager: {
      getSubscription: async () => existing,
      subscribe: async (opts) => { calls.push({ subscribe: { userVisibleOnly: opts.userVisibleOnly, key: Array.from(opts.applicationServerKey) } }); existing = fresh; return fresh; },
    },
  };
  globalThis.navigator = {
    serviceWorker: {
      register: async (url, opts) => { calls.push({ register: url, scope: opts.scope }); return registration; },
      ready: Promise.resolve(registration),
      getRegistration: async () => registration,
    },
  };
  globalThis.PushManager = function () {};
  globalThis.Notification = { permission: "default", requestPermission: async () => { calls.push("permission"); return "granted"; } };
  const mod = await import("data:text/javascript," + encodeURIComponent(readFileSync(notifyPath, "utf8")));
  const sent = [];
  // "BAEC" is base64url of [4, 1, 2]: a short key, for the decoding.
  await mod.enableNotifications((m) => sent.push(m), "room-1", "BAEC");
  await mod.disableNotifications((m) => sent.push(m), "room-1");
  let noKey = "";
  try {
    await mod.enableNotifications((m) => sent.push(m), "room-1", "");
  } catch (e) {
    noKey = e.message;
  }
  Notification.permission = "denied";
  Notification.requestPermission = async () => "denied";
  let denied = "";
  try {
    await mod.enableNotifications((m) => sent.push(m), "room-1", "BAEC");
  } catch (e) {
    denied = e.message;
  }
  out.notify = { calls, sent, noKey, denied, key: Array.from(mod.keyBytes("BHC8eW6ms-87kk7-zCaCPBRCwrhj2l5vLBCUom_7cWFGFi-29VO1pcqIt3aGomhkkpUy9mV-RrjWebjWCY7v_bo")).length };
}

console.log(JSON.stringify(out));
