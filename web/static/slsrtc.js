// slsrtc.js: the browser client of slsrtc (docs/protocol.md). One ES module,
// no build step, no dependencies; the local stack serves it at /slsrtc.js.
//
//   import { Slsrtc } from "/slsrtc.js";
//   const room = await Slsrtc.join("ws://127.0.0.1:3001/slsrtc", { userName: "alice" });
//   room.addEventListener("message", (e) => console.log(e.detail.peer.userName, e.detail.data));
//   room.send("hello");
//
// What it does for you:
//
//   - Peers are keyed by participant ID, which survives a resume; signals are
//     addressed to it (dest), so they reach the peer's current connection.
//   - W3C "perfect negotiation": both sides create their RTCPeerConnection as
//     soon as they know of each other (enter, room-members) and offer when
//     negotiationneeded says so; on glare the polite side (the larger
//     participant ID) rolls back. ICE candidates trickle and wait until the
//     remote description they belong to is set.
//   - ICE restarts when a connection's ICE fails, when the network changes
//     (online, navigator.connection change), and when a resumed peer's ICE
//     had failed. ICE servers (STUN/TURN with time-limited credentials) come
//     from the stack ({"action":"iceservers"}) and are refreshed before they
//     expire; a stack without the action means none.
//   - The WebSocket may drop: the client reconnects with exponential backoff
//     and jitter and resumes its seat with its last resume token, proactively
//     too, before API Gateway's 2-hour cut; if the seat is gone
//     (session-expired) it enters the room again as a new participant. It
//     pings within the idle timeout and drops stale presence by seq.
//
// Wire conventions between peers (a Go client follows the same): signals are
// "offer" and "answer" (message: JSON of the RTCSessionDescriptionInit) and
// "ice-candidate" (message: JSON of the RTCIceCandidateInit); every pair
// shares one data channel labelled "slsrtc", negotiated, with id 0, which
// room.send uses.

/** Every action the client sends (docs/protocol.md). */
const A = Object.freeze({
  create: "createroom",
  enter: "enterroom",
  leave: "leaveroom",
  message: "message",
  ping: "ping",
  resume: "resume",
  iceServers: "iceservers",
});

/** The data channel every pair of peers shares (negotiated, so no glare). */
export const CHANNEL_LABEL = "slsrtc";
const CHANNEL_ID = 0;

/** How long to wait for a reply of the server before giving up. */
const REPLY_TIMEOUT_MS = 10_000;
/**
 * Signals (relayed messages) per second, and in a burst: the stack's
 * default MESSAGES_PER_SECOND of 20 allows 200 in each fixed 10-second
 * window, and a bucket sends at most SIGNAL_BURST + 10 * SIGNAL_RATE = 190
 * in one.
 */
const SIGNAL_RATE = 14;
const SIGNAL_BURST = 50;
/** How long a newcomer waits for an earlier member's offer before offering itself. */
const OFFER_WAIT_MS = 3_000;
/** How long leave() waits for the server to confirm before closing. */
const LEAVE_TIMEOUT_MS = 2_000;
/** How long to wait for ice-servers before going on without. */
const ICE_SERVERS_TIMEOUT_MS = 5_000;
/** Reconnect backoff: the first delay's ceiling, and the largest. */
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** Resume this long before API Gateway closes the connection (expiresAt). */
const RESUME_AHEAD_MS = 5 * 60_000;
/** Ping at least this often (and within a third of idleTimeoutMs). */
const PING_MAX_MS = 60_000;
/** The close code of leave(): a normal closure leaves at once. */
const CLOSE_NORMAL = 1000;
/** The close code testDropSocket uses: anything but 1000 holds the seat. */
const CLOSE_DROPPED = 4000;
/** How long a new socket waits for its connected frame (the Go client's dialTimeout). */
const WELCOME_TIMEOUT_MS = 15_000;
/** API Gateway's WebSocket frame quota; a browser sends a message as one frame. */
const MAX_FRAME_BYTES = 32 * 1024;

/**
 * An error of the protocol (its code, e.g. "room-full", "room-not-found",
 * "session-expired") or of the client: "unauthorized" (the stack refused
 * the WebSocket handshake: a missing, expired or wrong token, or an origin it
 * does not allow; a browser cannot tell these from an unreachable stack),
 * "connection-closed", "timeout", "not-connected", "webrtc".
 */
export class SlsrtcError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{action?: string, retryAfterMs?: number, cause?: unknown}} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "SlsrtcError";
    /** @type {string} */
    this.code = code;
    /** @type {string | undefined} the action the server refused, if any */
    this.action = details.action;
    /** @type {number | undefined} when a rate-limited action may be retried */
    this.retryAfterMs = details.retryAfterMs;
  }
}

/**
 * @typedef {object} JoinOptions
 * @property {string} [roomID] the room to enter; omitted: create one
 * @property {string} [userName] 1 to 64 characters, unique in the room
 * @property {string} [token] the stack's access token (sent as ?token=)
 * @property {MediaStream | null} [media] tracks to send to every peer
 * @property {number} [capacity] of a room this call creates
 * @property {RTCIceServer[]} [iceServers] used beside the stack's
 * @property {number} [signalRate] signals per second to stay under (default
 *   14, for the stack's default MESSAGES_PER_SECOND of 20; 0: no limit)
 */

/**
 * A frame from the server: an object with a type (docs/protocol.md).
 * @typedef {{type?: string, [field: string]: any}} Frame
 */

/**
 * The detail of each event a Room dispatches (as a CustomEvent):
 *
 * @typedef {{peer: Peer}} PeerEventDetail                  "peer": a member to call appeared
 * @typedef {{peer: Peer, reason: string}} PeerLeftDetail   "peerleft": it left (reason of the leave frame)
 * @typedef {{peer: Peer, track: MediaStreamTrack, streams: readonly MediaStream[]}} TrackDetail "track"
 * @typedef {{peer: Peer, channel: RTCDataChannel}} DataChannelDetail "datachannel": a channel opened
 * @typedef {{peer: Peer, data: any}} MessageDetail         "message": on the shared channel
 * @typedef {{error: SlsrtcError}} ErrorDetail              "error": something failed (the room may go on)
 * @typedef {{attempt: number, delayMs: number, reason: string}} ReconnectingDetail "reconnecting"
 * @typedef {{peer: Peer | null, previousConnectionID: string}} ResumedDetail
 *   "resumed": a peer's new connection (peer), or ours (peer null)
 */

/** One other member of the room and the WebRTC connection to it. */
export class Peer {
  /**
   * @param {string} participantID
   * @param {string} connectionID
   * @param {string} userName
   * @param {boolean} polite
   */
  constructor(participantID, connectionID, userName, polite) {
    /** Its stable ID (the key of room.peers). */
    this.participantID = participantID;
    /** Its current WebSocket connection (changes when it resumes). */
    this.connectionID = connectionID;
    /** The name it entered with, or "". */
    this.userName = userName;
    /** Whether this side yields on glare (see perfect negotiation). */
    this.polite = polite;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {RTCDataChannel | null} the shared channel (room.send) */
    this.channel = null;
    /** @internal state of perfect negotiation */
    this.makingOffer = false;
    /** @internal */
    this.ignoreOffer = false;
    /** @internal the newest offer ignored in a collision (see #applySignal) @type {RTCSessionDescriptionInit | undefined} */
    this.deferredOffer = undefined;
    /** @internal candidates waiting for the remote description @type {RTCIceCandidateInit[]} */
    this.pending = [];
    /** @internal signals of this peer, handled one at a time @type {Promise<void>} */
    this.signals = Promise.resolve();
    /** @internal see Room #connect @type {ReturnType<typeof setTimeout> | undefined} */
    this.attachTimer = undefined;
  }
}

/**
 * @param {string} url
 * @param {string | undefined} token
 * @returns {string} the WebSocket URL with the token, if any, as ?token=
 */
export function socketURL(url, token) {
  if (!token) return url;
  const u = new URL(url);
  u.searchParams.set("token", token);
  return u.href;
}

/**
 * One WebSocket to the stack, with the frame it was welcomed with.
 */
class Socket {
  /**
   * @param {string} url
   * @param {(s: Socket, f: Frame) => void} onFrame
   * @param {(s: Socket, e: CloseEvent) => void} onClose
   */
  constructor(url, onFrame, onClose) {
    this.ws = new WebSocket(url);
    /** @type {Frame | null} the connected frame */
    this.welcome = null;
    /** @type {Set<(f: Frame) => void>} */
    this.watchers = new Set();
    this.closed = false;
    this.opened = false;
    /** @type {Promise<Frame>} resolves with connected; rejects if the socket closes first, or none comes in WELCOME_TIMEOUT_MS */
    this.ready = new Promise((resolve, reject) => {
      // "connected" is posted by an asynchronous invocation that gives up
      // after a few seconds of throttling (docs/reliability.md): without it
      // the client cannot go on, so it closes and the caller tries again.
      const timer = setTimeout(() => {
        reject(new SlsrtcError("timeout", `no connected frame within ${WELCOME_TIMEOUT_MS} ms`));
        this.close(CLOSE_NORMAL, "");
      }, WELCOME_TIMEOUT_MS);
      this.ws.onopen = () => { this.opened = true; };
      this.ws.onmessage = (e) => {
        /** @type {Frame} */
        let f;
        try {
          f = JSON.parse(String(e.data));
        } catch {
          return;
        }
        if (f.type === "connected" && !this.welcome) {
          this.welcome = f;
          clearTimeout(timer);
          resolve(f);
        }
        for (const w of [...this.watchers]) w(f);
        onFrame(this, f);
      };
      this.ws.onclose = (e) => {
        this.closed = true;
        clearTimeout(timer);
        for (const w of [...this.watchers]) w({ type: "$closed", code: e.code });
        if (!this.opened) {
          reject(new SlsrtcError("unauthorized", "the stack refused the WebSocket handshake " +
            "(a missing, expired or wrong token, or an origin it does not allow) or cannot be reached"));
        } else {
          reject(new SlsrtcError("connection-closed", `the WebSocket closed (${e.code}) before the stack welcomed it`));
        }
        onClose(this, e);
      };
    });
    this.ready.catch(() => {}); // the caller that awaits it sees the rejection
  }

  /** @param {object} msg */
  send(msg) {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /**
   * Sends msg (if given) and waits for the first frame pick returns a value
   * for; an error frame about action rejects (as SlsrtcError), and so do the
   * socket closing and the timeout.
   * @template T
   * @param {object | null} msg
   * @param {string} action
   * @param {(f: Frame) => T | undefined} pick
   * @param {number} [timeoutMs]
   * @returns {Promise<T>}
   */
  request(msg, action, pick, timeoutMs = REPLY_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      /** @param {Frame} f */
      const watch = (f) => {
        if (f.type === "$closed") {
          done();
          reject(new SlsrtcError("connection-closed", `the WebSocket closed (${f.code}) awaiting the answer to ${action}`, { action }));
        } else if (f.type === "error" && f.action === action) {
          done();
          reject(frameError(f));
        } else {
          const v = pick(f);
          if (v !== undefined) {
            done();
            resolve(v);
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new SlsrtcError("timeout", `no answer to ${action} within ${timeoutMs} ms`, { action }));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.watchers.delete(watch);
      };
      if (this.closed) {
        reject(new SlsrtcError("connection-closed", "the WebSocket is closed", { action }));
        return;
      }
      this.watchers.add(watch);
      if (msg) this.send(msg);
    });
  }

  /** @param {number} code @param {string} reason */
  close(code, reason) {
    if (!this.closed) this.ws.close(code, reason);
  }
}

/** @param {Frame} f @returns {SlsrtcError} */
function frameError(f) {
  return new SlsrtcError(String(f.code || "internal"), String(f.message || f.code || "error"),
    { action: f.action, retryAfterMs: f.retryAfterMs });
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Whether description a was made after b by the same peer connection: the
 * o= line's session version, which each new local description raises.
 * False when either cannot be told, or they come from different sessions.
 * @param {string | undefined} a @param {string | undefined} b
 */
export function madeAfter(a, b) {
  const origin = (/** @type {string | undefined} */ sdp) => {
    const m = /^o=\S+ (\d+) (\d+) /m.exec(sdp || "");
    return m ? { id: m[1], version: BigInt(m[2]) } : undefined;
  };
  const x = origin(a), y = origin(b);
  return !!x && !!y && x.id === y.id && x.version > y.version;
}

/**
 * A room the client is in: an EventTarget of the events described at
 * the typedefs above. Made by join.
 */
export class Room extends EventTarget {
  /** The room's ID. */
  id = "";
  /** Our participant ID (stable across resumes; a new one after session-expired). */
  participantID = "";
  /** Our current connection ID. */
  connectionID = "";
  /** The other members, by participant ID. @type {Map<string, Peer>} */
  peers = new Map();
  /** Whether the stack said its ICE servers include TURN (a relay). */
  relay = false;
  /** The stack's VAPID public key for Web Push ("" when it sends no push). */
  vapidPublicKey = "";

  #url;
  #opts;
  /** @type {Socket | null} */
  #socket = null;
  #resumeToken = "";
  #expiresAt = 0;
  #idleTimeoutMs = 600_000;
  /** @type {RTCIceServer[]} */
  #iceServers = [];
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #iceTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #resumeTimer;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #pingTimer;
  /** The seq of the last presence frame applied per participant. @type {Map<string, number>} */
  #seqs = new Map();
  /** Signals waiting for the socket or for the rate (see #drain). @type {object[]} */
  #outbox = [];
  /** The signal rate's token bucket: tokens, when last refilled, no sending before. */
  #tokens = SIGNAL_BURST;
  #refilled = 0;
  #pausedUntil = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #drainTimer;
  #left = false;
  #reconnecting = false;
  #migrating = false;
  #entered = false;
  #onNetworkChange = () => this.restartIce();

  /**
   * @param {string} url
   * @param {JoinOptions} opts
   */
  constructor(url, opts) {
    super();
    this.#url = socketURL(url, opts.token);
    this.#opts = opts;
  }

  /** @internal Opens the first socket, fetches ICE servers, creates or enters the room. */
  async _join() {
    const socket = await this.#open();
    try {
      await this.#iceServersOn(socket);
      let roomID = this.#opts.roomID || "";
      if (!roomID) {
        /** @type {{action: string, capacity?: number}} */
        const msg = { action: A.create };
        if (this.#opts.capacity) msg.capacity = this.#opts.capacity;
        roomID = await socket.request(msg, A.create, (f) => (f.type === "room-created" ? String(f.body) : undefined));
      }
      await this.#enter(socket, roomID);
    } catch (err) {
      this.#left = true;
      this.#stopTimers();
      socket.close(CLOSE_NORMAL, "could not join");
      throw err;
    }
    globalThis.addEventListener?.("online", this.#onNetworkChange);
    /** @type {any} */ (globalThis.navigator)?.connection?.addEventListener?.("change", this.#onNetworkChange);
    return this;
  }

  /**
   * Sends data over the shared data channel: to every peer whose channel is
   * open (returns how many), or to one peer (returns 1; throws
   * SlsrtcError "not-connected" if its channel is not open).
   * @overload
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @returns {number}
   */
  /**
   * @overload
   * @param {string} participantID
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @returns {number}
   */
  /**
   * @param {any} a
   * @param {any} [b]
   * @returns {number}
   */
  send(a, b) {
    if (arguments.length >= 2) {
      const ch = this.peers.get(a)?.channel;
      if (ch?.readyState !== "open") throw new SlsrtcError("not-connected", `no open data channel to ${a}`);
      ch.send(b);
      return 1;
    }
    let n = 0;
    for (const p of this.peers.values()) {
      if (p.channel?.readyState === "open") {
        p.channel.send(a);
        n++;
      }
    }
    return n;
  }

  /**
   * Sends one protocol message the room does not wrap (subscribe and
   * unsubscribe, for notify.js) on the current socket.
   * @param {object} msg
   */
  sendAction(msg) {
    if (!this.#socket) throw new SlsrtcError("not-connected", "the room has no socket");
    this.#socket.send(msg);
  }

  /** Restarts ICE with every peer (the client does so itself on a network change). */
  restartIce() {
    for (const p of this.peers.values()) p.pc?.restartIce();
  }

  /**
   * Leaves the room for good: sends leaveroom, closes every peer connection,
   * and once the server confirmed (or after a short wait) closes the
   * WebSocket with 1000, a normal closure: the room is told at once, with
   * reason "left".
   * @returns {Promise<void>}
   */
  async leave() {
    if (this.#left) return;
    this.#left = true;
    this.#stopTimers();
    clearTimeout(this.#drainTimer);
    globalThis.removeEventListener?.("online", this.#onNetworkChange);
    /** @type {any} */ (globalThis.navigator)?.connection?.removeEventListener?.("change", this.#onNetworkChange);
    for (const p of [...this.peers.values()]) this.#removePeer(p, "left", false);
    const s = this.#socket;
    this.#socket = null;
    if (!s) return;
    try {
      // Closing at once would race leaveroom: the room could hear "disconnected".
      await s.request({ action: A.leave }, A.leave,
        (f) => (f.type === "leave" && (f.participantID === this.participantID || f.connectionID === this.connectionID) ? true : undefined),
        LEAVE_TIMEOUT_MS);
    } catch {
      // closed, refused or slow: the normal closure below leaves all the same
    }
    s.close(CLOSE_NORMAL, "left the room");
  }

  /**
   * For tests and demos: closes the WebSocket as a network drop would (code
   * 4000, not a normal closure), so the client reconnects and resumes.
   */
  testDropSocket() {
    this.#socket?.close(CLOSE_DROPPED, "dropped for a test");
  }

  // ---- the socket ------------------------------------------------------------

  /** Opens a socket and waits for its connected frame. */
  async #open() {
    const s = new Socket(this.#url, (sock, f) => this.#frame(sock, f), (sock, e) => this.#closed(sock, e));
    await s.ready;
    return s;
  }

  /**
   * Makes s the room's socket, with the timing of its connected frame.
   * @param {Socket} s
   */
  #adopt(s) {
    const old = this.#socket;
    this.#socket = s;
    const w = s.welcome || {};
    this.connectionID = String(w.body || "");
    this.vapidPublicKey = String(w.vapidPublicKey || "");
    this.#expiresAt = Number(w.expiresAt) || 0;
    this.#idleTimeoutMs = Number(w.idleTimeoutMs) || this.#idleTimeoutMs;
    this.#stopTimers(false);
    const every = Math.min(PING_MAX_MS, Math.max(1000, Math.floor(this.#idleTimeoutMs / 3)));
    this.#pingTimer = setInterval(() => this.#socket?.send({ action: A.ping }), every);
    if (this.#expiresAt) {
      const ahead = Math.min(RESUME_AHEAD_MS, (this.#expiresAt - Date.now()) / 2);
      this.#resumeTimer = setTimeout(() => this.#migrate(), Math.max(0, this.#expiresAt - Date.now() - ahead));
    }
    if (old && old !== s) old.close(CLOSE_DROPPED, "replaced by a resumed connection"); // the server closes it too
    this.#drain();
  }

  /** @param {boolean} [ice] whether to stop the ICE servers' refresh too */
  #stopTimers(ice = true) {
    clearInterval(this.#pingTimer);
    clearTimeout(this.#resumeTimer);
    if (ice) clearTimeout(this.#iceTimer);
  }

  /**
   * Enters roomID on s as a new participant: s's connected frame gives our
   * participant ID and first resume token.
   * @param {Socket} s
   * @param {string} roomID
   */
  async #enter(s, roomID) {
    const w = s.welcome || {};
    this.participantID = String(w.participantID || "");
    this.#resumeToken = String(w.resumeToken || "");
    this.#seqs.clear();
    this.#entered = false;
    /** @type {{action: string, roomID: string, userName?: string}} */
    const msg = { action: A.enter, roomID };
    if (this.#opts.userName) msg.userName = this.#opts.userName;
    this.#adopt(s);
    await s.request(msg, A.enter, (f) =>
      f.type === "enter" && (f.participantID === this.participantID || f.connectionID === s.welcome?.body) ? true : undefined);
    this.id = roomID;
    this.#entered = true;
  }

  /**
   * Resumes our seat on s with the last token; resolves once resumed.
   * @param {Socket} s
   */
  async #resume(s) {
    const token = this.#resumeToken;
    this.#resumeToken = ""; // single use, whatever the answer
    const f = await s.request({ action: A.resume, token }, A.resume,
      (f) => (f.type === "resumed" && f.resumeToken ? f : undefined));
    this.#resumeToken = String(f.resumeToken);
    this.participantID = String(f.participantID || this.participantID);
    this.#adopt(s);
    this.#dispatch("resumed", { peer: null, previousConnectionID: String(f.previousConnectionID || "") });
    for (const p of this.peers.values()) {
      const st = p.pc?.iceConnectionState;
      if (st === "failed" || st === "disconnected") p.pc?.restartIce();
    }
  }

  /**
   * @param {Socket} s
   * @param {CloseEvent} e
   */
  #closed(s, e) {
    if (s !== this.#socket || this.#left || !this.id) return; // replaced, left, or not in yet
    this.#socket = null;
    this.#stopTimers(false);
    if (this.#migrating) return; // the server closed it for the new one; #migrate goes on
    this.#reconnect(`the WebSocket closed (${e.code}${e.reason ? " " + e.reason : ""})`);
  }

  /**
   * Reconnects with exponential backoff and full jitter until resumed, or
   * entered again as new after session-expired, or left.
   * @param {string} reason
   */
  async #reconnect(reason) {
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    try {
      for (let attempt = 1; !this.#left; attempt++) {
        const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
        const delayMs = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
        this.#dispatch("reconnecting", { attempt, delayMs, reason });
        await sleep(delayMs);
        if (this.#left) return;
        /** @type {Socket} */
        let s;
        try {
          s = await this.#open();
        } catch (err) {
          reason = String(/** @type {Error} */ (err).message);
          continue;
        }
        if (this.#left) {
          s.close(CLOSE_NORMAL, "left the room");
          return;
        }
        try {
          await this.#iceServersOn(s);
          if (this.#resumeToken) {
            await this.#resume(s);
          } else {
            throw new SlsrtcError("session-expired", "no resume token to resume with");
          }
          return;
        } catch (err) {
          const e = /** @type {SlsrtcError} */ (err);
          if (e.code !== "session-expired") {
            s.close(CLOSE_DROPPED, "resume failed");
            reason = e.message;
            continue;
          }
          this.#error(e);
          try {
            await this.#enterAgain(s);
            return;
          } catch (err2) {
            const e2 = /** @type {SlsrtcError} */ (err2);
            this.#error(e2);
            if (e2.code === "room-not-found" || e2.code === "room-full" || e2.code === "name-taken" || e2.code === "forbidden") {
              s.close(CLOSE_NORMAL, "could not enter again");
              this.leave(); // nothing to go back to
              return;
            }
            s.close(CLOSE_DROPPED, "could not enter again");
            reason = e2.message;
          }
        }
      }
    } finally {
      this.#reconnecting = false;
    }
  }

  /**
   * After session-expired: the room saw us leave, so every peer connection
   * is over; enter as a new participant, and the members call again.
   * @param {Socket} s
   */
  async #enterAgain(s) {
    for (const p of [...this.peers.values()]) this.#removePeer(p, "session-expired");
    this.#outbox = [];
    await this.#enter(s, this.id);
  }

  /** Resumes on a new socket ahead of API Gateway's 2-hour cut; the old one stays until then. */
  async #migrate() {
    if (this.#left || this.#reconnecting || this.#migrating || !this.#resumeToken) return;
    this.#migrating = true;
    /** @type {Socket | null} */
    let s = null;
    try {
      s = await this.#open();
      await this.#iceServersOn(s);
      await this.#resume(s); // adopts s; the server closes the old connection
    } catch (err) {
      s?.close(CLOSE_DROPPED, "resume failed");
      if (this.#left) return;
      this.#error(/** @type {SlsrtcError} */ (err));
      if (!this.#socket) {
        this.#reconnect(String(/** @type {Error} */ (err).message)); // the old one is gone too
      } else {
        this.#resumeTimer = setTimeout(() => this.#migrate(), 30_000); // the old one still works
      }
    } finally {
      this.#migrating = false;
    }
  }

  /**
   * Asks s for the ICE servers and applies them; an older stack answers
   * unknown-action (or nothing): keep what we have (none at first).
   * @param {Socket} s
   */
  async #iceServersOn(s) {
    try {
      const f = await s.request({ action: A.iceServers }, A.iceServers,
        (f) => (f.type === "ice-servers" ? f : undefined), ICE_SERVERS_TIMEOUT_MS);
      this.#applyIceServers(f);
    } catch (err) {
      const e = /** @type {SlsrtcError} */ (err);
      if (e.code === "connection-closed") throw e;
      // unknown-action, timeout, rate-limited: go on without (or with the last)
    }
  }

  /** @param {Frame} f an ice-servers frame */
  #applyIceServers(f) {
    this.#iceServers = Array.isArray(f.iceServers) ? f.iceServers : [];
    this.relay = Boolean(f.relay);
    for (const p of this.peers.values()) {
      if (!p.pc) continue;
      try {
        p.pc.setConfiguration({ ...p.pc.getConfiguration(), iceServers: this.#allIceServers() });
      } catch (err) {
        this.#error(new SlsrtcError("webrtc", `apply new ICE servers: ${err}`, { cause: err }));
      }
    }
    clearTimeout(this.#iceTimer);
    const ttl = Number(f.ttlSeconds) || 0;
    if (ttl > 0) {
      // Refresh at 80% of the lifetime, so a restart of ICE never uses an expired credential.
      this.#iceTimer = setTimeout(() => this.#socket?.send({ action: A.iceServers }), Math.max(10_000, ttl * 800));
    }
  }

  #allIceServers() {
    return [...this.#iceServers, ...(this.#opts.iceServers || [])];
  }

  // ---- frames --------------------------------------------------------------------

  /**
   * Handles a frame from any of our sockets.
   * @param {Socket} s
   * @param {Frame} f
   */
  #frame(s, f) {
    if (this.#left) return;
    switch (f.type) {
      case "ice-servers":
        this.#applyIceServers(f);
        return;
      case "enter":
      case "leave":
      case "room-members":
      case "resumed":
        if (this.#entered || f.type === "room-members") this.#presence(f);
        return;
      case "offer":
      case "answer":
      case "ice-candidate":
        this.#signal(f);
        return;
      case "error":
        this.#serverError(f);
        return;
      case "connected":
      case "room-created":
      case "pong":
        return;
      default:
        if (!f.type && f.message) {
          // API Gateway's own frames: {"message": "Forbidden" | "Internal server error", ...}
          this.#error(new SlsrtcError("internal", `the API answered: ${f.message}`));
        }
    }
  }

  /** @param {Frame} f */
  #serverError(f) {
    switch (f.action) {
      case A.create: case A.enter: case A.resume: case A.iceServers:
        return; // a pending request takes it
      case A.message:
        if (f.code === "forbidden") return; // a signal to a peer that has just left
        if (f.code === "rate-limited") {
          this.#pausedUntil = Date.now() + (Number(f.retryAfterMs) || 1000);
          this.#tokens = 0;
        }
    }
    this.#error(frameError(f));
  }

  /**
   * Whether a presence frame about participant pid is newer than the last
   * applied (and records it if so).
   * @param {string} pid
   * @param {number | undefined} seq
   */
  #fresh(pid, seq) {
    if (typeof seq !== "number" || seq === 0) return true;
    const last = this.#seqs.get(pid) ?? 0;
    if (seq <= last) return false;
    this.#seqs.set(pid, seq);
    return true;
  }

  /** @param {Frame} f */
  #presence(f) {
    const seq = typeof f.seq === "number" ? f.seq : undefined;
    switch (f.type) {
      case "enter": {
        const pid = String(f.participantID || "");
        if (!pid || !this.#fresh(pid, seq) || pid === this.participantID) return;
        this.#upsertPeer(pid, String(f.connectionID), String(f.userName || ""));
        return;
      }
      case "leave": {
        const pid = String(f.participantID || this.#byConnection(String(f.connectionID))?.participantID || "");
        if (!pid || !this.#fresh(pid, seq) || pid === this.participantID) return;
        const p = this.peers.get(pid);
        if (p) this.#removePeer(p, String(f.reason || "left"));
        return;
      }
      case "resumed": {
        const pid = String(f.participantID || "");
        if (!pid || pid === this.participantID || !this.#fresh(pid, seq)) return;
        const known = this.peers.has(pid);
        const p = this.#upsertPeer(pid, String(f.connectionID), String(f.userName || ""));
        if (!known) return;
        this.#dispatch("resumed", { peer: p, previousConnectionID: String(f.previousConnectionID || "") });
        const st = p.pc?.iceConnectionState;
        if (st === "failed" || st === "disconnected") p.pc?.restartIce();
        return;
      }
      case "room-members": {
        const s = seq ?? 0;
        /** @type {Set<string>} */
        const listed = new Set();
        let before = true; // members are listed in the order they entered
        for (const m of Array.isArray(f.members) ? f.members : []) {
          const pid = String(m.participantID || "");
          if (!pid) continue;
          listed.add(pid);
          if (pid === this.participantID) {
            this.#seqs.set(pid, Math.max(s, this.#seqs.get(pid) ?? 0));
            before = false;
            continue;
          }
          if ((this.#seqs.get(pid) ?? 0) > s) continue; // a newer frame about it came first
          this.#seqs.set(pid, s);
          // Those who entered before us were told of our enter and offer.
          this.#upsertPeer(pid, String(m.connectionID), String(m.userName || ""), before);
        }
        for (const p of [...this.peers.values()]) {
          if (!listed.has(p.participantID) && (this.#seqs.get(p.participantID) ?? 0) < s) {
            this.#seqs.set(p.participantID, s);
            this.#removePeer(p, "gone");
          }
        }
      }
    }
  }

  /** @param {string} connectionID */
  #byConnection(connectionID) {
    for (const p of this.peers.values()) if (p.connectionID === connectionID) return p;
    return undefined;
  }

  /**
   * Returns the peer pid, updated, or a new one with its RTCPeerConnection.
   * @param {string} pid
   * @param {string} connectionID
   * @param {string} userName
   * @param {boolean} [awaitOffer] whether the peer is expected to offer (see #connect)
   */
  #upsertPeer(pid, connectionID, userName, awaitOffer = false) {
    let p = this.peers.get(pid);
    if (p) {
      if (connectionID) p.connectionID = connectionID;
      if (userName) p.userName = userName;
      return p;
    }
    p = new Peer(pid, connectionID, userName, this.participantID > pid);
    this.peers.set(pid, p);
    this.#connect(p, awaitOffer);
    this.#dispatch("peer", { peer: p });
    return p;
  }

  /**
   * @param {Peer} p
   * @param {string} reason
   * @param {boolean} [tell] whether to dispatch peerleft
   */
  #removePeer(p, reason, tell = true) {
    if (this.peers.get(p.participantID) !== p) return;
    this.peers.delete(p.participantID);
    clearTimeout(p.attachTimer);
    p.pc?.close();
    if (tell) this.#dispatch("peerleft", { peer: p, reason });
  }

  // ---- WebRTC ----------------------------------------------------------------------

  /**
   * Creates p's RTCPeerConnection. The shared data channel and our media
   * make it negotiate, and perfect negotiation sorts out who offers; but as
   * the seed's convention has it, a member who entered before p offers to
   * it, so when p is expected to offer (awaitOffer) they are added only when
   * its offer comes, or after OFFER_WAIT_MS if none does (p may not have
   * been told of us). Needless glare costs a rollback, and a rollback in the
   * first negotiation has left Chromium's ICE gathering stuck.
   * @param {Peer} p
   * @param {boolean} awaitOffer
   */
  #connect(p, awaitOffer) {
    const pc = new RTCPeerConnection({ iceServers: this.#allIceServers() });
    p.pc = pc;
    pc.onnegotiationneeded = async () => {
      try {
        p.makingOffer = true;
        await pc.setLocalDescription();
        if (pc.localDescription) this.#sendSignal(p, pc.localDescription.type, pc.localDescription);
      } catch (err) {
        if (pc.signalingState !== "closed") this.#error(new SlsrtcError("webrtc", `offer to ${p.participantID}: ${err}`, { cause: err }));
      } finally {
        p.makingOffer = false;
      }
    };
    pc.onicecandidate = (e) => {
      if (e.candidate) this.#sendSignal(p, "ice-candidate", e.candidate.toJSON());
    };
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === "failed") pc.restartIce();
    };
    pc.ontrack = (e) => this.#dispatch("track", { peer: p, track: e.track, streams: e.streams });
    pc.ondatachannel = (e) => this.#watchChannel(p, e.channel);
    if (awaitOffer) p.attachTimer = setTimeout(() => this.#attach(p), OFFER_WAIT_MS);
    else this.#attach(p);
  }

  /**
   * Adds the shared data channel and our media to p's connection, once.
   * @param {Peer} p
   */
  #attach(p) {
    clearTimeout(p.attachTimer);
    const pc = p.pc;
    if (p.channel || !pc || pc.signalingState === "closed") return;
    const ch = pc.createDataChannel(CHANNEL_LABEL, { negotiated: true, id: CHANNEL_ID });
    p.channel = ch;
    ch.onmessage = (e) => this.#dispatch("message", { peer: p, data: e.data });
    this.#watchChannel(p, ch);
    const media = this.#opts.media;
    if (media) for (const t of media.getTracks()) pc.addTrack(t, media);
  }

  /**
   * @param {Peer} p
   * @param {RTCDataChannel} ch
   */
  #watchChannel(p, ch) {
    const opened = () => this.#dispatch("datachannel", { peer: p, channel: ch });
    if (ch.readyState === "open") opened();
    else ch.addEventListener("open", opened, { once: true });
  }

  /**
   * Relays a signal to p (by participant ID: it reaches its current
   * connection, or waits for it while it is away); kept for later while our
   * own socket is down.
   * @param {Peer} p
   * @param {string} type
   * @param {any} payload
   */
  #sendSignal(p, type, payload) {
    const msg = { action: A.message, dest: p.participantID, type, message: JSON.stringify(payload) };
    const bytes = new TextEncoder().encode(JSON.stringify(msg)).length;
    if (bytes > MAX_FRAME_BYTES) {
      // A browser sends a message as one frame, and API Gateway closes a
      // connection that sends a frame over 32 KB (1009).
      this.#error(new SlsrtcError("payload-too-large",
        `the ${type} for ${p.participantID} is ${bytes} bytes; API Gateway takes frames of at most ${MAX_FRAME_BYTES}, and a browser sends a message as one frame`));
      return;
    }
    this.#outbox.push(msg);
    this.#drain();
  }

  /**
   * Sends the waiting signals, in order, as fast as the rate allows: the
   * stack refuses a connection's messages past MESSAGES_PER_SECOND (20 by
   * default, over 10-second windows) and a refused signal is lost, so the
   * client stays under it with a token bucket (SIGNAL_RATE per second, bursts
   * of SIGNAL_BURST; opts.signalRate overrides the rate, 0: unlimited), and
   * pauses for retryAfterMs when refused all the same.
   */
  #drain() {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    const rate = this.#opts.signalRate ?? SIGNAL_RATE;
    const now = Date.now();
    const burst = Math.max(SIGNAL_BURST, rate);
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilled) / 1000) * rate);
    this.#refilled = now;
    while (this.#outbox.length && this.#socket && !this.#socket.closed && now >= this.#pausedUntil) {
      if (rate > 0 && this.#tokens < 1) break;
      if (!this.#socket.send(this.#outbox[0])) return; // not open: #adopt drains
      this.#outbox.shift();
      this.#tokens--;
    }
    if (this.#outbox.length && this.#socket && !this.#socket.closed) {
      const wait = Math.max(this.#pausedUntil - now, rate > 0 ? ((1 - this.#tokens) / rate) * 1000 : 0);
      this.#drainTimer = setTimeout(() => this.#drain(), Math.max(10, wait));
    }
  }

  /** @param {Frame} f an offer, answer or ice-candidate */
  #signal(f) {
    const pid = String(f.participantID || this.#byConnection(String(f.from))?.participantID || "");
    if (!pid || pid === this.participantID || !this.#entered) return;
    // A signal can overtake the enter that announces its sender, which offers.
    const p = this.#upsertPeer(pid, String(f.from || ""), "", true);
    /** @type {any} */
    let payload;
    try {
      payload = JSON.parse(String(f.body));
    } catch {
      return;
    }
    p.signals = p.signals.then(() => this.#applySignal(p, String(f.type), payload)).catch((err) => {
      if (p.pc?.signalingState !== "closed") this.#error(new SlsrtcError("webrtc", `signal from ${pid}: ${err}`, { cause: err }));
    });
  }

  /**
   * Perfect negotiation (W3C webrtc-pc, section 10.7), one signal at a time.
   * @param {Peer} p
   * @param {string} type
   * @param {any} payload
   */
  async #applySignal(p, type, payload) {
    const pc = p.pc;
    if (!pc || pc.signalingState === "closed") return;
    if (type === "ice-candidate") {
      if (!pc.remoteDescription) {
        p.pending.push(payload);
        return;
      }
      await this.#addCandidate(p, payload);
      return;
    }
    const desc = /** @type {RTCSessionDescriptionInit} */ ({ type, sdp: payload.sdp });
    const collision = desc.type === "offer" && (p.makingOffer || pc.signalingState !== "stable");
    p.ignoreOffer = !p.polite && collision;
    if (p.ignoreOffer) {
      if (!p.deferredOffer || madeAfter(desc.sdp, p.deferredOffer.sdp)) p.deferredOffer = desc;
      return;
    }
    if (desc.type === "answer" && pc.signalingState !== "have-local-offer") return; // a stale answer
    await pc.setRemoteDescription(desc); // rolls back our own offer on glare (we are polite)
    const pending = p.pending.splice(0);
    for (const c of pending) await this.#addCandidate(p, c);
    if (desc.type === "offer") {
      this.#attach(p); // our channel and media go into the answer (see #connect)
      await pc.setLocalDescription();
      if (pc.localDescription) this.#sendSignal(p, pc.localDescription.type, pc.localDescription);
    }
    const deferred = p.deferredOffer;
    if (desc.type === "answer" && deferred) {
      // Our offer is answered. Signals are not ordered (each relay is its
      // own invocation): an offer we ignored that the polite side made
      // after this answer overtook it, waits for our answer, and nobody
      // would send it again; one it made before (and rolled back) is over.
      p.deferredOffer = undefined;
      if (madeAfter(deferred.sdp, desc.sdp)) await this.#applySignal(p, "offer", { sdp: deferred.sdp });
    }
  }

  /**
   * @param {Peer} p
   * @param {RTCIceCandidateInit} c
   */
  async #addCandidate(p, c) {
    try {
      await p.pc?.addIceCandidate(c);
    } catch (err) {
      // A candidate of an offer we ignored, or of an ICE generation that a
      // restart replaced: expected, not an error of the call.
      if (!p.ignoreOffer) console.debug(`slsrtc: candidate from ${p.participantID} not added: ${err}`);
    }
  }

  // ---- events ----------------------------------------------------------------------

  /**
   * @param {string} type
   * @param {object} detail
   */
  #dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @param {SlsrtcError} error */
  #error(error) {
    this.#dispatch("error", { error });
  }
}

/**
 * Joins a room: connects to the stack at url (its WebSocket URL), fetches
 * its ICE servers, creates a room when opts.roomID is not given, and enters
 * it. Resolves with the Room once entered (events dispatched from then on
 * reach listeners added right after the await); rejects with a SlsrtcError
 * ("unauthorized", "room-not-found", "room-full", "name-taken", ...).
 * @param {string} url
 * @param {JoinOptions} [opts]
 * @returns {Promise<Room>}
 */
export async function join(url, opts = {}) {
  return new Room(url, opts)._join();
}

/** The module's API as one object: Slsrtc.join(...). */
export const Slsrtc = Object.freeze({ join, Room, Peer, SlsrtcError, socketURL, CHANNEL_LABEL });
export default Slsrtc;
