// notify.js: "notify me when someone joins" for the demo page, an ES module
// (import { enableNotifications } from "./notify.js"). It registers the
// service worker (sw.js), subscribes the browser with the Push API, and
// sends the subscription to the signaling backend as the subscribe action
// (docs/protocol.md, "Push notifications"). The backend then tells this
// browser, even with the page closed, when someone enters the room.

// Reasons enableNotifications gives up, as the Error's message.
export const UNSUPPORTED = "unsupported"; // no service worker or Push API (or not a secure context)
export const DENIED = "denied"; // the user refused notifications
export const NO_KEY = "no-key"; // the stack sends no push (no vapidPublicKey in "connected")

// supported reports whether this browser can receive push notifications.
export function supported() {
  return typeof navigator !== "undefined" && "serviceWorker" in navigator &&
    typeof PushManager !== "undefined" && typeof Notification !== "undefined";
}

// keyBytes decodes a base64url VAPID public key into the bytes
// pushManager.subscribe takes as applicationServerKey.
export function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function sameKey(a, b) {
  if (!a || !b) {
    return false;
  }
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

// enableNotifications subscribes this browser to pushes about roomID and
// sends {"action":"subscribe",...} through send, a function that sends one
// protocol message (an object) on the page's WebSocket. Call it after the
// page has entered the room (only members may subscribe), and again after
// each enter: a page that comes back is a new participant, and the same
// subscription, sent again, is rebound to it. vapidPublicKey is the
// "connected" frame's. Returns the PushSubscription; throws an Error whose
// message is UNSUPPORTED, DENIED or NO_KEY, or the browser's error.
export async function enableNotifications(send, roomID, vapidPublicKey, swURL = "sw.js") {
  if (!vapidPublicKey) {
    throw new Error(NO_KEY);
  }
  if (!supported()) {
    throw new Error(UNSUPPORTED);
  }
  if (Notification.permission !== "granted" && await Notification.requestPermission() !== "granted") {
    throw new Error(DENIED);
  }
  await navigator.serviceWorker.register(swURL, { scope: "./" });
  const registration = await navigator.serviceWorker.ready;
  const key = keyBytes(vapidPublicKey);
  let sub = await registration.pushManager.getSubscription();
  if (sub && !sameKey(sub.options && sub.options.applicationServerKey, key)) {
    // Made with another key (the stack rotated it): push services refuse
    // it now (docs/push.md, "Rotating the VAPID key").
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) {
    sub = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  }
  send({ action: "subscribe", roomID: roomID, subscription: sub.toJSON() });
  return sub;
}

// disableNotifications stops pushes about roomID to this browser: it sends
// {"action":"unsubscribe",...} with the subscription's endpoint. The
// browser's subscription itself is kept, for the other rooms it follows.
export async function disableNotifications(send, roomID) {
  if (!supported()) {
    return false;
  }
  const registration = await navigator.serviceWorker.getRegistration();
  const sub = registration && await registration.pushManager.getSubscription();
  if (!sub) {
    return false;
  }
  send({ action: "unsubscribe", roomID: roomID, endpoint: sub.endpoint });
  return true;
}
