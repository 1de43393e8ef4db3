// Runs the demo page's app.js in Node with a stub DOM, to see which WebSocket
// URL the page settles on. Usage:
//
//   node page-url.js APP_JS PAGE_URL ENDPOINTS_STATUS ENDPOINTS_BODY
//
// fetch("endpoints.json") answers ENDPOINTS_STATUS with ENDPOINTS_BODY (status 0:
// the fetch fails). It prints {"ws": <the URL field>, "fetched": [<URLs>],
// "socket": <the URL the page opens its WebSocket on>}.
"use strict";
const fs = require("fs");
const vm = require("vm");

const [appJS, pageURL, status, body] = process.argv.slice(2);

// An element that takes any property and ignores any method call.
function element() {
  const fields = { value: "", textContent: "", hidden: false, disabled: false, checked: false, dataset: {}, style: {} };
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
globalThis.navigator = {};
const fetched = [];
globalThis.fetch = async (url) => {
  fetched.push(new URL(url, pageURL).href);
  if (status === "0") throw new TypeError("Failed to fetch");
  return { ok: status === "200", status: Number(status), json: async () => JSON.parse(body) };
};

vm.runInThisContext(fs.readFileSync(appJS, "utf8"), { filename: appJS });
vm.runInThisContext("urlKnown").then(() => {
  const socket = vm.runInThisContext('socketURL($("ws-url").value.trim(), $("token").value.trim())');
  console.log(JSON.stringify({ ws: document.getElementById("ws-url").value, fetched, socket }));
});
