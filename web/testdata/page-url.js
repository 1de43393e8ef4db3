// Runs the demo page's app.js (an ES module, importing ./slsrtc.js as the page
// does) in Node with a stub DOM, to see which WebSocket URL the page settles
// on. Usage:
//
//   node page-url.js APP_JS PAGE_URL ENDPOINTS_STATUS ENDPOINTS_BODY
//
// fetch("endpoints.json") answers ENDPOINTS_STATUS with ENDPOINTS_BODY (status 0:
// the fetch fails). It submits the join form, and when the client opens its
// WebSocket prints {"ws": <the URL field>, "fetched": [<URLs>], "socket": <the
// URL of the WebSocket>} on stdout. (The stub WebSocket then fails its
// handshake, which the page shows as an error.)
"use strict";
const path = require("path");
const { pathToFileURL } = require("url");

const [appJS, pageURL, status, body] = process.argv.slice(2);

// An element that takes any property, keeps its event listeners and ignores
// any other method call.
function element() {
  const listeners = {};
  const fields = {
    value: "", textContent: "", hidden: false, disabled: false, checked: false, dataset: {}, style: {}, listeners,
    addEventListener: (type, fn) => { listeners[type] = fn; },
  };
  return new Proxy(fields, {
    get: (t, k) => (k in t ? t[k] : () => element()),
    set: (t, k, v) => { t[k] = v; return true; },
  });
}
const elements = new Map();
globalThis.document = {
  getElementById: (id) => { if (!elements.has(id)) elements.set(id, element()); return elements.get(id); },
  querySelector: () => element(),
  querySelectorAll: () => [],
  createElement: () => element(),
  addEventListener: () => {},
};
globalThis.window = globalThis;
globalThis.location = new URL(pageURL);
globalThis.history = { replaceState: () => {} };
const fetched = [];
globalThis.fetch = async (url) => {
  fetched.push(new URL(url, pageURL).href);
  if (status === "0") throw new TypeError("Failed to fetch");
  return { ok: status === "200", status: Number(status), json: async () => JSON.parse(body) };
};
let opened;
const socket = new Promise((resolve) => { opened = resolve; });
globalThis.WebSocket = class {
  static OPEN = 1;
  constructor(url) {
    opened(url);
    setTimeout(() => this.onclose?.({ code: 1006, reason: "" })); // the handshake fails
  }
  send() {}
  close() {}
};

(async () => {
  await import(pathToFileURL(path.resolve(appJS)).href);
  document.getElementById("join").listeners.submit({ preventDefault() {} });
  const url = await socket;
  console.log(JSON.stringify({ ws: document.getElementById("ws-url").value, fetched, socket: url }));
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
