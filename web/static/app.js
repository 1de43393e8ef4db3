// slsrtc demo: a WebRTC room client of the signaling protocol (docs/protocol.md).
//
// The flow is the seed front end's: a member that sees "enter" for another
// connection creates an RTCPeerConnection and sends it an "offer" (message =
// JSON of the SDP); the newcomer answers to "from"; ICE candidates trickle as
// "ice-candidate" and wait in a queue until the remote description is set;
// "leave" closes that peer connection. Every pair has a data channel for the
// chat, and carries camera and microphone when the browser has them.
"use strict";

const $ = (id) => document.getElementById(id);
const PING_MS = 60_000; // API Gateway closes connections idle for 10 minutes

let ws = null;          // the signaling WebSocket
let myID = "";          // our connection ID
let roomID = "";        // the room we are in
let localStream = null; // camera and microphone, if any
let pinger = 0;
let frames = Promise.resolve(); // server frames are handled one at a time, in order
const peers = new Map();        // connection ID -> {name, pc, dc, pending}

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
// WebSocket URL, since a browser cannot set headers on a WebSocket. The page
// takes it from its own ?token= and drops it from the address bar and the
// invite link once in a room: a token is a credential, not something to share.
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
  connect(socketURL($("ws-url").value.trim(), $("token").value.trim()));
});

// socketURL returns the WebSocket URL with the token, if any, as ?token=.
function socketURL(base, token) {
  if (!token) return base;
  try {
    const u = new URL(base);
    u.searchParams.set("token", token);
    return u.href;
  } catch {
    return base; // new WebSocket says what is wrong with it
  }
}

$("leave").addEventListener("click", () => send({ action: "leaveroom" }));

$("chat").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  const open = [...peers.values()].filter((p) => p.dc?.readyState === "open");
  open.forEach((p) => p.dc.send(text));
  addChat("you", open.length ? text : `${text} (nobody is connected yet)`);
  $("chat-text").value = "";
});

// ---- signaling ---------------------------------------------------------------

function connect(url) {
  const shown = redact(url);
  setStatus(`connecting to ${shown}…`);
  try {
    ws = new WebSocket(url);
  } catch (err) {
    failed(`Bad WebSocket URL: ${err.message}`);
    return;
  }
  ws.onmessage = (e) => {
    frames = frames.then(() => handle(JSON.parse(e.data))).catch((err) => showError(`Error: ${err.message}`));
  };
  ws.onerror = () => showError(`Cannot reach ${shown}: the stack refused the connection (a token it requires, missing, expired or for another stack?) or is not there.`);
  ws.onclose = (e) => {
    clearInterval(pinger);
    ws = null;
    leftRoom();
    setStatus(`disconnected (${e.code}${e.reason ? " " + e.reason : ""})`);
    $("join-button").disabled = false;
  };
  pinger = setInterval(() => send({ action: "ping" }), PING_MS);
}

// redact returns the URL with its token hidden, for the status line.
function redact(url) {
  try {
    const u = new URL(url);
    if (u.searchParams.has("token")) u.searchParams.set("token", "…");
    return u.href;
  } catch {
    return url;
  }
}

function send(msg) {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

// signal relays a WebRTC signal to another member of the room.
function signal(dest, type, payload) {
  send({ action: "message", dest, type, message: JSON.stringify(payload) });
}

async function handle(f) {
  switch (f.type) {
    case "connected":
      myID = f.body;
      setStatus("connected");
      if ($("room-id").value.trim()) enter($("room-id").value.trim());
      else send({ action: "createroom" });
      break;
    case "room-created":
      enter(f.body);
      break;
    case "enter":
      if (f.connectionID === myID) return enteredRoom(f.roomID, f.userName);
      peer(f.connectionID).name = f.userName || "";
      addChat("", `${label(f.connectionID)} entered`);
      return call(f.connectionID);
    case "room-members":
      for (const m of f.members) if (m.connectionID !== myID) peer(m.connectionID).name = m.userName || "";
      break;
    case "offer":
      return answer(f.from, JSON.parse(f.body));
    case "answer": {
      const p = peer(f.from);
      if (!p.pc) return; // not ours: we sent no offer to it
      await p.pc.setRemoteDescription(JSON.parse(f.body));
      return flush(p);
    }
    case "ice-candidate":
      return addCandidate(peer(f.from), JSON.parse(f.body));
    case "leave":
      if (f.connectionID === myID) {
        ws.close(1000, "left the room");
        return;
      }
      addChat("", `${label(f.connectionID)} left`);
      removePeer(f.connectionID);
      break;
    case "error":
      if (f.action === "message") {
        // A signal to a peer that has just left is refused: expected, not the user's problem.
        console.warn(`signal not relayed: ${f.code}: ${f.message}`);
        break;
      }
      showError(`${f.code}: ${f.message}`);
      if (!roomID && (f.action === "createroom" || f.action === "enterroom")) ws.close(1000, "could not enter");
      break;
    case "pong":
      break;
    default:
      // API Gateway's own frames: {"message": "Forbidden" | "Internal server error", ...}
      if (f.message) showError(`The API answered: ${f.message}`);
  }
  render();
}

function enter(id) {
  const msg = { action: "enterroom", roomID: id };
  const name = $("user-name").value.trim();
  if (name) msg.userName = name;
  send(msg);
}

function enteredRoom(id, name) {
  roomID = id;
  const q = new URLSearchParams({ room: id });
  if ($("ws-url").value.trim() !== defaultURL) q.set("ws", $("ws-url").value.trim());
  if ($("stun-url").value.trim()) q.set("stun", $("stun-url").value.trim());
  history.replaceState(null, "", "?" + q);
  $("room-id").value = id;
  $("room-label").textContent = id;
  $("invite").href = location.href;
  $("join").hidden = true;
  $("room").hidden = false;
  setStatus(`in the room as ${name || "a guest"}`);
  render();
}

function leftRoom() {
  for (const id of peers.keys()) removePeer(id);
  roomID = "";
  $("join").hidden = false;
  $("room").hidden = true;
  updateButton();
}

// ---- WebRTC --------------------------------------------------------------------

// peer returns the entry for a connection, creating it: ICE candidates may
// arrive before the offer they belong to.
function peer(id) {
  if (!peers.has(id)) peers.set(id, { id, name: "", pc: null, dc: null, pending: [] });
  return peers.get(id);
}

function newPeerConnection(p) {
  const stun = $("stun-url").value.trim();
  p.pc = new RTCPeerConnection({ iceServers: stun ? [{ urls: stun }] : [] });
  p.pc.onicecandidate = (e) => e.candidate && signal(p.id, "ice-candidate", e.candidate);
  p.pc.ontrack = (e) => showVideo(p.id, e.streams[0], label(p.id), false);
  p.pc.onconnectionstatechange = render;
}

// call offers a peer connection to a newcomer.
async function call(id) {
  const p = peer(id);
  newPeerConnection(p);
  useChannel(p, p.pc.createDataChannel("chat"));
  for (const kind of ["audio", "video"]) {
    const track = localStream?.getTracks().find((t) => t.kind === kind);
    if (track) p.pc.addTrack(track, localStream);
    else p.pc.addTransceiver(kind, { direction: "recvonly" });
  }
  await p.pc.setLocalDescription(await p.pc.createOffer());
  signal(id, "offer", p.pc.localDescription);
}

// answer answers an offer from a member who was in the room before us.
async function answer(id, offer) {
  const p = peer(id);
  newPeerConnection(p);
  p.pc.ondatachannel = (e) => useChannel(p, e.channel);
  await p.pc.setRemoteDescription(offer);
  await flush(p);
  localStream?.getTracks().forEach((t) => p.pc.addTrack(t, localStream));
  await p.pc.setLocalDescription(await p.pc.createAnswer());
  signal(id, "answer", p.pc.localDescription);
}

async function addCandidate(p, candidate) {
  if (p.pc?.remoteDescription) await p.pc.addIceCandidate(candidate);
  else p.pending.push(candidate);
}

async function flush(p) {
  const pending = p.pending.splice(0);
  for (const c of pending) await p.pc.addIceCandidate(c);
}

function useChannel(p, dc) {
  p.dc = dc;
  dc.onopen = dc.onclose = render;
  dc.onmessage = (e) => addChat(label(p.id), String(e.data));
}

function removePeer(id) {
  const p = peers.get(id);
  p?.pc?.close();
  peers.delete(id);
  document.querySelector(`figure[data-id="${CSS.escape(id)}"]`)?.remove();
  render();
}

// ---- rendering -----------------------------------------------------------------

function label(id) {
  const name = peers.get(id)?.name;
  return name || `guest ${id.slice(0, 4)}`;
}

function render() {
  const list = $("participants");
  list.replaceChildren();
  if (roomID) {
    const me = document.createElement("li");
    me.textContent = `${$("user-name").value.trim() || "guest " + myID.slice(0, 4)} (you)`;
    list.append(me);
  }
  for (const p of peers.values()) {
    if (!p.pc) continue; // only candidates so far
    const li = document.createElement("li");
    const chat = p.dc?.readyState === "open" ? "open" : "closed";
    li.dataset.id = p.id;
    li.dataset.chat = chat;
    li.textContent = `${label(p.id)} — ${p.pc.connectionState}${chat === "open" ? ", chat open" : ""}`;
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

function failed(text) {
  showError(text);
  setStatus("not connected");
  $("join-button").disabled = false;
}
