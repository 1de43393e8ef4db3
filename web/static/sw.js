// Service worker of the demo page: shows the Web Push notifications the
// signaling backend sends when someone enters a room the browser follows
// (docs/protocol.md, "Push notifications"), and opens the room when one is
// clicked. notify.js registers it.
"use strict";

// notificationFor returns the title and options of the notification for a
// push payload, or null for a payload it does not know.
function notificationFor(payload, scope) {
  if (!payload || payload.type !== "room-entered" || typeof payload.roomID !== "string") {
    return null;
  }
  const url = payload.url || new URL("./?room=" + encodeURIComponent(payload.roomID), scope).href;
  const who = payload.userName || "Someone";
  return {
    title: who + " is waiting in your room",
    options: {
      body: "Open the room to join them.",
      // A newer notification about the same room replaces the older one,
      // as the push service's Topic does for undelivered messages.
      tag: "room-" + payload.roomID,
      renotify: true,
      data: { url: url },
    },
  };
}

self.addEventListener("push", (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch (e) {
    payload = null;
  }
  const n = notificationFor(payload, self.registration.scope);
  if (n) {
    event.waitUntil(self.registration.showNotification(n.title, n.options));
  }
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data && event.notification.data.url;
  if (!url) {
    return;
  }
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const w of windows) {
      if (w.url === url && "focus" in w) {
        return w.focus();
      }
    }
    return self.clients.openWindow(url);
  })());
});
