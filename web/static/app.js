// slsrtc demo: a video room with chat, built on the browser client
// (slsrtc.js), which does the protocol, the negotiation, resume and the rest.
// This file is only the page: the form, the videos, the participant list and
// the chat.
import { Slsrtc } from "./slsrtc.js";
import { enableNotifications, supported as pushSupported } from "./notify.js";

const $ = (id) => document.getElementById(id);

let room = null;        // the Slsrtc Room we are in
let localStream = null; // camera and microphone, if any

// ---- the form ----------------------------------------------------------------

const params = new URLSearchParams(location.search);
// The WebSocket URL is ?ws= when given. Otherwise a local stack that served this
// page says where its WebSocket is, whatever its stage (GET endpoints.json); a
// page served from anywhere else keeps the default stage on its host.
const servedOverHTTP = location.protocol.startsWith("http");
let defaultURL = servedOverHTTP
  ? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/slsrtc`
  : "ws://127.0.0.1:3001/slsrtc";
$("ws-url").value = params.get("ws") || defaultURL;
const urlKnown = params.get("ws") ? Promise.resolve() : stackURL().then((url) => {
  if (!url) return;
  if ($("ws-url").value === defaultURL) $("ws-url").value = url; // unless edited meanwhile
  defaultURL = url;
});
$("stun-url").value = params.get("stun") || "";
// A stack that requires tokens (docs/security.md) takes one as ?token= on the
// WebSocket URL; the page takes it from its own ?token= and drops it from the
// address bar and the invite link once in a room: a token is a credential.
$("token").value = params.get("token") || "";
$("room-id").value = params.get("room") || "";
const updateButton = () => { $("join-button").textContent = $("room-id").value.trim() ? "Join room" : "Create room"; };
$("room-id").addEventListener("input", updateButton);
updateButton();

// stackURL returns the WebSocket URL of the local stack that served the page, or
// "" when the page did not come from one.
async function stackURL() {
  if (!servedOverHTTP) return "";
  try {
    const resp = await fetch("endpoints.json", { cache: "no-store" });
    if (!resp.ok) return "";
    const endpoints = await resp.json();
    return typeof endpoints.webSocketURL === "string" ? endpoints.webSocketURL : "";
  } catch {
    return "";
  }
}

$("join").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError("");
  $("join-button").disabled = true;
  await urlKnown; // a click right after the page loaded waits for the stack's URL
  if ($("use-media").checked && !localStream) {
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      showVideo("self", localStream, "you", true);
    } catch (err) {
      showError(`No camera or microphone (${err.name}): chat only.`);
    }
  }
  const stun = $("stun-url").value.trim();
  setStatus("connecting…");
  try {
    room = await Slsrtc.join($("ws-url").value.trim(), {
      roomID: $("room-id").value.trim() || undefined,
      userName: $("user-name").value.trim() || undefined,
      token: $("token").value.trim() || undefined,
      media: localStream,
      iceServers: stun ? [{ urls: stun }] : [],
    });
  } catch (err) {
    showError(`${err.code || err.name}: ${err.message}`);
    setStatus("not connected");
    $("join-button").disabled = false;
    return;
  }
  listen(room);
  enteredRoom();
});

$("leave").addEventListener("click", async () => {
  const r = room;
  room = null;
  await r?.leave();
  for (const fig of document.querySelectorAll("figure[data-id]:not([data-id=self])")) fig.remove();
  $("join").hidden = false;
  $("room").hidden = true;
  $("join-button").disabled = false;
  setStatus("left the room");
  updateButton();
});

$("chat").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text || !room) return;
  const n = room.send(text);
  addChat("you", n ? text : `${text} (nobody is connected yet)`);
  $("chat-text").value = "";
});

// ---- the room ----------------------------------------------------------------

function listen(r) {
  r.addEventListener("peer", ({ detail: { peer } }) => {
    addChat("", `${label(peer)} entered`);
    peer.pc.addEventListener("connectionstatechange", render);
  });
  r.addEventListener("peerleft", ({ detail: { peer } }) => {
    addChat("", `${label(peer)} left`);
    document.querySelector(`figure[data-id="${CSS.escape(peer.participantID)}"]`)?.remove();
  });
  r.addEventListener("datachannel", ({ detail: { channel } }) => channel.addEventListener("close", render));
  r.addEventListener("track", ({ detail: { peer, streams } }) => {
    if (streams[0]) showVideo(peer.participantID, streams[0], label(peer), false);
  });
  r.addEventListener("message", ({ detail: { peer, data } }) => addChat(label(peer), String(data)));
  r.addEventListener("reconnecting", ({ detail }) => setStatus(`reconnecting (attempt ${detail.attempt}): ${detail.reason}`));
  r.addEventListener("resumed", ({ detail: { peer } }) => {
    if (!peer) setStatus(`in the room as ${$("user-name").value.trim() || "a guest"} (reconnected)`);
  });
  r.addEventListener("error", ({ detail: { error } }) => showError(`${error.code}: ${error.message}`));
  for (const type of ["peer", "peerleft", "datachannel", "resumed"]) r.addEventListener(type, render);
}

function enteredRoom() {
  const q = new URLSearchParams({ room: room.id });
  if ($("ws-url").value.trim() !== defaultURL) q.set("ws", $("ws-url").value.trim());
  if ($("stun-url").value.trim()) q.set("stun", $("stun-url").value.trim());
  history.replaceState(null, "", "?" + q);
  $("room-id").value = room.id;
  $("room-label").textContent = room.id;
  $("invite").href = location.href;
  $("join").hidden = true;
  $("room").hidden = false;
  setStatus(`in the room as ${$("user-name").value.trim() || "a guest"}`);
  // Only a stack with a VAPID key sends pushes, and only a browser with a
  // service worker and the Push API (on https or localhost) receives them.
  $("notify").hidden = !(room.vapidPublicKey && pushSupported());
  render();
}

// "Notify me when someone joins": the browser subscribes with the Push API and
// the stack pushes to it when someone enters this room, tab closed or not.
$("notify").addEventListener("click", async () => {
  try {
    await enableNotifications((m) => room.sendAction(m), room.id, room.vapidPublicKey);
    $("notify").textContent = "Notifications on";
    $("notify").disabled = true;
  } catch (err) {
    showError(`notifications: ${err.message}`);
  }
});

// ---- rendering -----------------------------------------------------------------

function label(peer) {
  return peer.userName || `guest ${peer.participantID.slice(0, 4)}`;
}

function render() {
  const list = $("participants");
  list.replaceChildren();
  if (!room) return;
  const me = document.createElement("li");
  me.textContent = `${$("user-name").value.trim() || "guest " + room.participantID.slice(0, 4)} (you)`;
  list.append(me);
  for (const p of room.peers.values()) {
    const li = document.createElement("li");
    const chat = p.channel?.readyState === "open" ? "open" : "closed";
    li.dataset.id = p.participantID;
    li.dataset.chat = chat;
    li.textContent = `${label(p)} — ${p.pc.connectionState}${chat === "open" ? ", chat open" : ""}`;
    list.append(li);
  }
}

function showVideo(id, stream, caption, muted) {
  let fig = document.querySelector(`figure[data-id="${CSS.escape(id)}"]`);
  if (!fig) {
    fig = document.createElement("figure");
    fig.dataset.id = id;
    fig.append(document.createElement("video"), document.createElement("figcaption"));
    $("videos").append(fig);
  }
  const video = fig.querySelector("video");
  Object.assign(video, { srcObject: stream, autoplay: true, playsInline: true, muted });
  fig.querySelector("figcaption").textContent = caption;
}

function addChat(who, text) {
  const li = document.createElement("li");
  if (who) {
    const b = document.createElement("b");
    b.textContent = who + ": ";
    li.append(b);
  } else {
    li.className = "note";
  }
  li.append(text);
  const log = $("chat-log");
  log.append(li);
  log.scrollTop = log.scrollHeight;
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}
