// hubbub-client.js: a small, framework-free client for the hubbub wire protocol, version 1.
//
// An ES module with no dependencies and no build step. Load it from the hubbub
// server that it talks to:
//
//   import { HubbubClient } from "https://chat.example.org/static/hubbub-client.js";
//   const client = new HubbubClient();            // the server the module came from
//   const sub = client.subscribe("general", { backlog: 50 });
//   sub.addEventListener("message", (e) => show(e.detail));
//   await client.publish("general", { user: "alice", text: "hello" });
//
// A server with access control on wants a token: `new HubbubClient({ token })`. It
// goes in the Authorization header of every fetch, and in `?token=` for EventSource
// and WebSocket, which cannot set headers.
//
// A room is an append-only log; every message has an id (its position), and the
// log an epoch that changes when it starts over. A Subscription remembers the last
// id it delivered and its epoch (its cursor) and, whatever the transport and
// however often it reconnects, asks for exactly what comes after it: every message
// is delivered once, in id order, and a hole the server can no longer fill (or a
// log that started over) is reported as a "gap" event, never skipped silently.
//
// docs/browser.md in the hubbub repository documents the whole API.

/** The transports, in the order a subscription tries them. */
export const TRANSPORTS = Object.freeze(["ws", "sse", "longpoll", "poll"]);

/** Human names of the transports, for a status line. */
export const TRANSPORT_LABELS = Object.freeze({
  ws: "WebSocket",
  sse: "Server-Sent Events",
  longpoll: "Long poll",
  poll: "Short poll",
});

/** The rule for room names (protocol: 1 to 64 of A-Z a-z 0-9 _ . -, not starting with "."). */
export const ROOM_PATTERN = /^(?!\.)[A-Za-z0-9_.-]{1,64}$/;

// Ephemeral events a subscription passes on (docs/protocol.md, "Presence and typing"
// and "Moderation"): never stored, no cursor.
const EPHEMERAL = Object.freeze(["presence", "typing", "mute", "unmute"]);
// How long to stay away after an admin's disconnect (close 4403, SSE `disconnected`, a
// long poll's 403 `disconnected`): the protocol asks for at least 30 seconds.
const DISCONNECTED_WAIT_S = 30;

/**
 * An error answered by the server (`status` > 0) or a failure to reach it (`status` 0).
 * `code` "cors": the server answers, but not to pages of this origin (no `--allow-origin`).
 */
export class HubbubError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the server could not be reached
   * @param {string} code the protocol's error code, or "network" / "timeout"
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = "HubbubError";
    this.status = status;
    this.code = code;
  }

  /**
   * hubbub refused the token: missing, refused or expired (401 `unauthorized`), or not
   * allowing this room (403 `forbidden`). A proxy's bare 403 is not this: its code is
   * `http_403`, and a subscription falls back to another transport.
   */
  get denied() {
    return this.code === "unauthorized" || this.code === "forbidden";
  }

  /** Worth trying again: the server was unreachable, busy or restarting. */
  get retryable() {
    if (this.code === "cors") return false; // the server's settings, not the network
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/**
 * A search hit's text cut at its `ranges` (code-point offsets, as the server counts):
 * `[{text, matched}]`, for a page to put each part in as text, matched ones in `<mark>`.
 */
export function matchedParts(text, ranges) {
  const points = Array.from(text);
  const parts = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) parts.push({ text: points.slice(at, start).join(""), matched: false });
    parts.push({ text: points.slice(start, end).join(""), matched: true });
    at = end;
  }
  if (at < points.length) parts.push({ text: points.slice(at).join(""), matched: false });
  return parts;
}

/** A fresh `client_id` for an idempotent publish (works outside secure contexts too). */
export function newClientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "c-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Exponential backoff with jitter: `initial`, `initial*factor`, ... up to `max` milliseconds. */
export class Backoff {
  constructor({ initial = 250, max = 10000, factor = 2, jitter = 0.5 } = {}) {
    this.initial = initial;
    this.max = max;
    this.factor = factor;
    this.jitter = jitter;
    this.attempt = 0;
  }

  /** The next delay in milliseconds; each call waits longer, up to `max`. */
  next() {
    const base = Math.min(this.max, this.initial * this.factor ** this.attempt);
    this.attempt += 1;
    // Jitter spreads the reconnections of many pages after a server restart.
    return Math.round(base * (1 - this.jitter * Math.random()));
  }

  reset() {
    this.attempt = 0;
  }
}

/** Sleep `ms`, or less if `signal` aborts (then resolve anyway: callers check their state). */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** A signal that aborts when `signal` does or after `ms`. */
function withTimeout(signal, ms) {
  const timeout = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/** The error of a stream ended because its token expired. */
function expiredError(message) {
  return new HubbubError(401, "unauthorized", message || "token expired");
}

async function errorFrom(response) {
  let code = "http_" + response.status;
  let message = response.statusText || code;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = String(body.error.code);
      message = String(body.error.message);
    }
  } catch {
    // Not a protocol error body (a proxy's page, say): keep the HTTP status.
  }
  return new HubbubError(response.status, code, message);
}

/** The client of one hubbub server. */
export class HubbubClient {
  /**
   * @param {object} [options]
   * @param {string|URL} [options.baseUrl] the server's root; defaults to the server this
   *   module was loaded from (so a reverse proxy's path prefix is kept)
   * @param {typeof fetch} [options.fetch] a fetch implementation (for tests or wrappers)
   * @param {string} [options.token] an access token, for a server with access control on
   */
  constructor({ baseUrl = new URL("../", import.meta.url), fetch: fetchImpl, token } = {}) {
    this.baseUrl = new URL(baseUrl);
    this.token = token || null;
    if (!this.baseUrl.pathname.endsWith("/")) this.baseUrl.pathname += "/";
    this._fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    const here = globalThis.location?.origin;
    /** The page is of another origin than the server: the browser applies CORS. */
    this.crossOrigin = here !== undefined && here !== this.baseUrl.origin;
  }

  /**
   * The HubbubError for a fetch that threw (not aborted by the caller).
   *
   * A browser reports a refused cross-origin read exactly like a network failure,
   * yet retrying cannot fix it. So a page of another origin asks twice more: a
   * `no-cors` request (its answer is opaque, but it arrives when the server is up)
   * and a plain CORS read of /healthz. Reachable but unreadable: "cors".
   */
  async _unreachable(err) {
    const code = err?.name === "TimeoutError" ? "timeout" : "network";
    const error = new HubbubError(0, code, `cannot reach the server: ${err?.message ?? err}`);
    if (code !== "network" || !this.crossOrigin) return error;
    const probe = { cache: "no-store", signal: AbortSignal.timeout(5000) };
    try {
      await this._fetch(this.url("healthz"), { ...probe, mode: "no-cors" });
    } catch {
      return error; // the server is down (or the network): retrying may help
    }
    try {
      await this._fetch(this.url("healthz"), probe);
      return error; // readable after all: the first failure was a passing one
    } catch {
      const page = globalThis.location.origin;
      return new HubbubError(
        0,
        "cors",
        `the server at ${this.baseUrl.origin} does not allow pages of ${page} (CORS): ` +
          `start it with --allow-origin ${page}, or serve this page from the server's own origin`,
      );
    }
  }

  /** The URL of `path` (relative to the server root) with `params` (undefined ones left out). */
  url(path, params = {}) {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    return url;
  }

  /** `/rooms/{room}/messages` with `params`. */
  messagesUrl(room, params = {}) {
    return this.url(`rooms/${encodeURIComponent(room)}/messages`, params);
  }

  /** The URL of a stream (EventSource, WebSocket): the token, if any, in `?token=`. */
  streamUrl(room, params = {}) {
    return this.messagesUrl(room, { ...params, token: this.token ?? undefined });
  }

  /** Request headers: `headers` and, with a token, `Authorization: Bearer`. */
  headers(headers = {}) {
    return this.token ? { ...headers, Authorization: `Bearer ${this.token}` } : headers;
  }

  /** GET `url` and answer its JSON body; throws HubbubError. */
  async getJson(url, { signal, timeout = 10000 } = {}) {
    let response;
    try {
      response = await this._fetch(url, {
        cache: "no-store",
        headers: this.headers({ Accept: "application/json" }),
        signal: withTimeout(signal, timeout),
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw await this._unreachable(err);
    }
    if (!response.ok) throw await errorFrom(response);
    return response.json();
  }

  /** The rooms that hold messages: `[{name, last_id}, ...]`. */
  async rooms({ signal } = {}) {
    const body = await this.getJson(this.url("rooms"), { signal });
    return body.rooms;
  }

  /**
   * One read of a room (a short poll): `{messages, first_id, last_id, epoch}`.
   *
   * `{before: N, limit}` gives the newest `limit` messages below id N (scrolling back),
   * `{since: N, limit}` the oldest `limit` after N, and neither the newest `limit`.
   * `epoch` (with `since`) is the epoch N was read in: an answer in another epoch means
   * the room's log started over, and it holds the new log from its start.
   */
  async history(room, { before, since, epoch, limit, view, around, signal, timeout } = {}) {
    const params = { before, since, epoch: since == null ? undefined : epoch, limit, view, around };
    return this.getJson(this.messagesUrl(room, params), { signal, timeout });
  }

  /**
   * Search the history, newest hit first: `{hits, before}` in `room`, or `{hits, next}`
   * across every room the token may read (or `rooms`). A hit is the message as it is now
   * plus `ranges`, the matched `[start, end]` code-point offsets of its text (mark them
   * with `matchedParts`). A refused query throws HubbubError (`invalid_query`).
   */
  async search(query, { room, rooms, limit, before, next, signal } = {}) {
    const params = { q: query, limit, before, next, rooms: rooms?.join(",") };
    const path = room == null ? "search" : `rooms/${encodeURIComponent(room)}/search`;
    return this.getJson(this.url(path, params), { signal });
  }

  /** Who is in a room: `{users: [{user, connections}], anonymous}`. */
  async presence(room, { signal } = {}) {
    return this.getJson(this.url(`rooms/${encodeURIComponent(room)}/presence`), { signal });
  }

  /** Tell a room `user` is typing (the server passes on at most one a second). */
  async typing(room, user) {
    try {
      await this._fetch(this.url(`rooms/${encodeURIComponent(room)}/typing`), {
        method: "POST",
        headers: this.headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ user }),
        cache: "no-store",
        signal: withTimeout(undefined, 5000),
      });
    } catch {
      // A typing notice that does not arrive is not worth a retry.
    }
  }

  /**
   * Publish an edit (`text` given) or a delete (`text` undefined) of message `target`;
   * only its author may. Resolves to the stored correction; throws HubbubError.
   */
  async correct(room, { user, target, text }) {
    const body = text === undefined
      ? { type: "delete", user, target }
      : { type: "edit", user, target, text };
    const response = await this._fetch(this.messagesUrl(room), {
      method: "POST",
      headers: this.headers({ "Content-Type": "application/json", Accept: "application/json" }),
      body: JSON.stringify(body),
      cache: "no-store",
      signal: withTimeout(undefined, 15000),
    });
    if (!response.ok) throw await errorFrom(response);
    return response.json();
  }

  /**
   * Publish a message; resolves to `{message, created}` once the server has stored it.
   *
   * The publish carries a `client_id` (a fresh one unless given), so it is retried
   * after a network error, a 5xx or a 429 without any risk of storing it twice:
   * a repeat answers `200` with the message stored the first time (`created` false).
   * Throws HubbubError when the server refuses it (a 4xx) or after `attempts` tries.
   *
   * @param {string} room
   * @param {{user: string, text: string, clientId?: string}} message
   * @param {object} [options]
   * @param {number} [options.attempts] tries before giving up (default 8)
   * @param {AbortSignal} [options.signal]
   * @param {(error: HubbubError, attempt: number, delay: number) => void} [options.onRetry]
   * @param {object} [options.backoff] options of the Backoff between tries
   */
  async publish(room, { user, text, clientId = newClientId() }, options = {}) {
    // With a token, `user` may be left out: the server stores the token's user.
    const { attempts = 8, signal, onRetry, backoff } = options;
    const body = JSON.stringify({ user, text, client_id: clientId });
    const delays = new Backoff(backoff);
    for (let attempt = 1; ; attempt += 1) {
      let error;
      let retryAfter = 0;
      try {
        const response = await this._fetch(this.messagesUrl(room), {
          method: "POST",
          headers: this.headers({ "Content-Type": "application/json", Accept: "application/json" }),
          body,
          cache: "no-store",
          signal: withTimeout(signal, 15000),
        });
        if (response.status === 200 || response.status === 201) {
          return { message: await response.json(), created: response.status === 201 };
        }
        error = await errorFrom(response);
        retryAfter = Number(response.headers.get("Retry-After")) * 1000 || 0;
      } catch (err) {
        if (signal?.aborted) throw err;
        error = await this._unreachable(err);
      }
      if (!error.retryable || attempt >= attempts) throw error;
      const delay = Math.max(retryAfter, delays.next());
      onRetry?.(error, attempt, delay);
      await sleep(delay, signal);
      if (signal?.aborted) throw signal.reason;
    }
  }

  /**
   * Follow a room from a cursor; see Subscription for the options and events.
   * @returns {Subscription}
   */
  subscribe(room, options = {}) {
    return new Subscription(this, room, options);
  }
}

/**
 * A live view of one room that survives disconnects, restarts and broken transports.
 *
 * Events (each a CustomEvent; the payload is `event.detail`):
 * - `message`: a message `{id, room, user, text, ts, client_id?}`, each id once, in order
 * - `backlog`: `{count, first_id, last_id}` once the first read (with `since` null) is done
 *   and its `backlog` messages delivered; `first_id..last_id` is what the room keeps
 * - `gap`: `{from, to, first_id, last_id, reset, epoch}`: ids `from..to` are gone for
 *   good. `reset` true: the room's log started over (the server named a new `epoch`, or
 *   the cursor is past `last_id`); ids start again from `first_id` and every message of
 *   the new log follows (`from..to` are then the ids seen that the new log lacks, maybe none)
 * - `presence`: `{joined, left}` user names (ws and sse only; the first one lists everyone)
 * - `typing`: `{user}` is typing (ws and sse only; your own name included)
 * - `mute`: `{user, until, seconds_left, reason, by}`: a moderator muted `user` in the room
 *   (ws and sse only); `unmute`: `{user, ended}`, the mute was lifted or ran out
 * - `disconnected`: `{retry_after}`: an admin disconnected this user; the subscription
 *   waits `retry_after` seconds before it connects again
 * - `state`: `{state, transport, delay?}` where state is `connecting` (never live yet),
 *   `live`, `reconnecting` (waiting `delay` ms, or trying) or `closed`
 * - `error`: `{error}`, a HubbubError the subscription cannot get past (it closes itself):
 *   the server refuses a plain read of the room, or (before the first connection) it
 *   does not allow pages of this origin (`error.code` "cors"), or the token is refused
 *   or expired (`error.status` 401, also when it expires on an open stream) or does not
 *   allow the room (403): open a new subscription with a fresh token and `since`
 */
export class Subscription extends EventTarget {
  /**
   * @param {HubbubClient} client
   * @param {string} room
   * @param {object} [options]
   * @param {number|null} [options.since] deliver every message with id > since; null
   *   (the default) starts from the room's newest message (see `backlog`)
   * @param {string|null} [options.epoch] with `since`: the epoch it was read in (a
   *   subscription's `epoch`); a room whose log started over since is told as a gap
   * @param {number} [options.backlog] with `since` null, first deliver the newest
   *   `backlog` messages (0 to 1000, default 0)
   * @param {string[]} [options.transports] transports to try, in order (default all:
   *   ws, sse, longpoll, poll); one name forces that transport
   * @param {number} [options.wait] long poll wait in seconds (default 25)
   * @param {number} [options.pollInterval] short poll period in milliseconds (default 2000)
   * @param {number} [options.openTimeout] ms a connection may take to open (default 10000)
   * @param {number} [options.watchdog] every this many ms, a stream (ws, sse) is checked
   *   against a plain read; 0 turns the check off (default 20000)
   * @param {object} [options.backoff] options of the reconnection Backoff
   * @param {string} [options.user] the name this subscription is present under
   * @param {string} [options.view] "latest": the backlog with edits and deletes applied
   * @param {number} [options.around] with `since` null: the backlog is the `backlog`
   *   messages around this id (a search hit), and the stream goes on after the last of them
   */
  constructor(client, room, options = {}) {
    super();
    if (!ROOM_PATTERN.test(room)) throw new TypeError(`invalid room name: ${room}`);
    this.client = client;
    this.room = room;
    /** The id of the last message delivered (null until known). */
    this.cursor = options.since ?? null;
    if (options.epoch != null && this.cursor === null) throw new TypeError("epoch needs since");
    /** The epoch of the room's log that `cursor` belongs to (null until the server names it). */
    this.epoch = options.epoch ?? null;
    this.backlog = Math.min(Math.max(options.backlog ?? 0, 0), 1000);
    this.transports = [...(options.transports ?? TRANSPORTS)];
    for (const name of this.transports) {
      if (!TRANSPORTS.includes(name)) throw new TypeError(`unknown transport: ${name}`);
    }
    if (this.transports.length === 0) throw new TypeError("no transport to use");
    this.wait = options.wait ?? 25;
    this.pollInterval = options.pollInterval ?? 2000;
    this.openTimeout = options.openTimeout ?? 10000;
    this.watchdog = options.watchdog ?? 20000;
    this.user = options.user;
    this.view = options.view;
    /** With `since` null: the backlog is the `backlog` messages around this id. */
    this.around = options.around ?? null;
    this.state = "connecting";
    this.transport = this.transports[0];

    this._backoff = new Backoff(options.backoff);
    this._index = 0; // which of this.transports is in use
    this._proven = new Set(); // transports that have worked against this server
    this._strikes = 0; // failures of a proven transport while the server was reachable
    this._holdOff = 0; // ms to wait before the next connection (an admin disconnected us)
    this._everLive = false;
    this._closed = false;
    this._stop = null; // ends the current connection
    this._wake = new AbortController(); // cuts a backoff wait or a poll interval short
    // The browser knows when the network comes and goes: a stream does not survive
    // it, so end it at once instead of waiting for the watchdog, and retry on return.
    this._onOnline = () => this.reconnect();
    this._onOffline = () => this._stop?.();
    globalThis.addEventListener?.("online", this._onOnline);
    globalThis.addEventListener?.("offline", this._onOffline);
    if (this.watchdog > 0) this._watchdog = setInterval(() => this._check(), this.watchdog);
    // Started after the caller's own code has run, so listeners added right after
    // subscribe() hear the first "connecting".
    queueMicrotask(() => this._run());
  }

  /** Stop for good: the connection is closed and no event follows but `state` closed. */
  close() {
    if (this._closed) return;
    this._closed = true;
    globalThis.removeEventListener?.("online", this._onOnline);
    globalThis.removeEventListener?.("offline", this._onOffline);
    clearInterval(this._watchdog);
    this._stop?.();
    this._wake.abort();
    this._setState("closed");
  }

  /** Skip the current backoff wait (or short poll interval) and try at once. */
  reconnect() {
    this._wake.abort();
  }

  /** For the short poll: ask now instead of at the next interval (no-op otherwise). */
  poke() {
    if (this.transport === "poll" && this.state === "live") this._wake.abort();
  }

  /** A refusal no retry can get past: tell it, and stop. */
  _fail(error) {
    if (this._closed) return;
    this._emit("error", { error });
    this.close();
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state, delay) {
    const same = state === this.state && this.transport === this._announced;
    if (same && delay === undefined) return;
    this.state = state;
    this._announced = this.transport;
    const detail = { state, transport: this.transport };
    if (delay !== undefined) detail.delay = delay;
    this._emit("state", detail);
  }

  /** A connection is open: the transport works. */
  _live() {
    this._suspect = null;
    this._everLive = true;
    this._proven.add(this.transport);
    this._strikes = 0;
    this._liveSince = Date.now();
    this._setState("live");
  }

  /**
   * Is the open stream still delivering? A WebSocket or an event stream can die
   * without a sound (a laptop asleep, a NAT forgetting the connection), and the
   * pings that keep them alive are invisible to page scripts. So a plain read
   * tells what the stream should have delivered: ids past the cursor still missing
   * at the next check, or a read that cannot reach the server, end the stream,
   * and it reconnects from its cursor.
   */
  async _check() {
    if (this.state !== "live" || (this.transport !== "ws" && this.transport !== "sse")) {
      this._suspect = null;
      return;
    }
    const stop = this._stop;
    const cursor = this.cursor ?? 0;
    const epoch = this.epoch;
    let lastId;
    let moved = false;
    try {
      const body = await this.client.history(this.room, { since: cursor, limit: 1, timeout: 5000 });
      lastId = body.last_id;
      // The room's log started over and the stream did not say so: it is not working.
      moved = epoch !== null && body.epoch != null && body.epoch !== epoch;
    } catch (err) {
      if (err?.status !== 0) return; // the server answered: busy, but reachable
      lastId = null; // unreachable: the stream cannot be working either
    }
    if (this._stop !== stop || this.state !== "live") return; // a new connection meanwhile
    const late = this._suspect != null && (this.cursor ?? 0) < this._suspect;
    const stale = lastId === null || (moved && this.epoch === epoch) || late;
    if (stale) {
      this._suspect = null;
      stop?.();
    } else {
      // Newer ids may be on their way; if they still have not arrived next time, they won't.
      this._suspect = lastId > cursor ? lastId : null;
    }
  }

  _idleSignal() {
    if (this._wake.signal.aborted) this._wake = new AbortController();
    return this._wake.signal;
  }

  /** Deliver messages in id order, each once, after the cursor. */
  _accept(messages) {
    for (const message of messages) {
      if (this._closed) return;
      if (this.cursor !== null && message.id <= this.cursor) continue; // seen already
      if (this.cursor !== null && message.id > this.cursor + 1) {
        // The server should have said so; never skip ids without telling.
        this._gap(this.cursor + 1, message.id - 1, message.id, message.id, false);
      }
      this.cursor = message.id;
      this._emit("message", message);
    }
  }

  /**
   * Compare the cursor with what the room keeps (`first_id..last_id` of the log named
   * `epoch`, from a poll answer, a `ready` or a `gap`); report a gap or a reset.
   */
  _bounds(firstId, lastId, epoch) {
    const cursor = this.cursor ?? 0;
    // Another epoch than the one of what was seen: the log started over, even when
    // the new one is already longer than the cursor (ids alone cannot tell).
    const moved = epoch != null && this.epoch !== null && epoch !== this.epoch && cursor > 0;
    if (epoch != null) this.epoch = epoch;
    if (moved || cursor > lastId) {
      // The room was reset (a memory store restarted, a database restored).
      this.cursor = Math.max(firstId - 1, 0);
      this._gap(lastId + 1, cursor, firstId, lastId, true);
    } else if (cursor + 1 < firstId) {
      this.cursor = firstId - 1;
      this._gap(cursor + 1, firstId - 1, firstId, lastId, false);
    }
  }

  _gap(from, to, firstId, lastId, reset) {
    this._emit("gap", { from, to, first_id: firstId, last_id: lastId, reset, epoch: this.epoch });
  }

  /** The cursor as every transport sends it: `since`, and `epoch` once known. */
  _position() {
    return { since: this.cursor, epoch: this.epoch };
  }

  async _run() {
    while (!this._closed) {
      this.transport = this.transports[this._index];
      this._setState(this._everLive ? "reconnecting" : "connecting");
      // "down": the first read failed, which says nothing about the transport.
      let outcome = "down";
      try {
        if (this.cursor === null) await this._start();
        // From another origin, a WebSocket opens whatever the server's CORS settings
        // (it has no CORS), so read first: a refusal must not look like a live stream.
        else if (!this._everLive && this.client.crossOrigin) await this._reachable();
        outcome = "failed";
        outcome = await this._connect(this.transport);
      } catch (err) {
        if (err instanceof HubbubError && err.code === "disconnected") {
          this._disconnected(DISCONNECTED_WAIT_S); // a held long poll, ended by an admin
          outcome = "ended";
        } else if (err instanceof HubbubError && err.denied) {
          this._fail(err); // no token, or one refused, expired or not for this room
          return;
        }
        if (outcome === "down" && err instanceof HubbubError && !err.retryable) {
          // The server refuses even a plain read of this room (or any read from this
          // page's origin): nothing to retry.
          this._emit("error", { error: err });
          this.close();
          return;
        }
      }
      if (this._closed) return;
      const canFallBack = this._index < this.transports.length - 1;
      if (canFallBack && (outcome === "refused" || (outcome === "failed" && (await this._brokenHere())))) {
        // The server answers plain reads but this transport does not work (a proxy
        // refusing upgrades or buffering streams, say): fall back to the next one, at once.
        this._index += 1;
        this._strikes = 0;
        continue;
      }
      if (this._closed) return;
      if (outcome === "ended" && Date.now() - this._liveSince > 5000) this._backoff.reset();
      let delay = this._backoff.next();
      if (this._holdOff) {
        delay = Math.max(delay, this._holdOff);
        this._holdOff = 0;
      }
      this._setState("reconnecting", delay);
      await sleep(delay, this._idleSignal());
    }
  }

  /** An admin disconnected this user: wait `seconds` before the next connection. */
  _disconnected(seconds) {
    this._holdOff = seconds * 1000;
    this._emit("disconnected", { retry_after: seconds });
  }

  /**
   * Whether the transport that just failed to open is broken while the server is fine.
   * A transport that worked before gets a second chance (the server may only just be
   * back from a restart).
   */
  async _brokenHere() {
    try {
      await this._reachable();
    } catch (err) {
      // A WebSocket refused before the upgrade looks like any failed connection:
      // the plain read tells when it was the token.
      if (err instanceof HubbubError && err.denied) this._fail(err);
      return false; // the server is unreachable: wait and retry the same transport
    }
    if (this._closed) return false;
    if (this._proven.has(this.transport)) {
      this._strikes += 1;
      return this._strikes >= 2;
    }
    return true;
  }

  /** One small plain read of the room after the cursor; throws HubbubError. */
  _reachable() {
    return this.client.history(this.room, { since: this.cursor ?? 0, limit: 1, timeout: 5000 });
  }

  /** With no cursor yet: read the newest messages, deliver the backlog, set the cursor. */
  async _start() {
    const limit = Math.max(this.backlog, 1);
    const around = this.around ?? undefined;
    const body = await this.client.history(this.room, { limit, view: this.view, around });
    if (this._closed || this.cursor !== null) return;
    const messages = body.messages;
    const newest = messages.length ? messages[messages.length - 1].id : 0;
    this.epoch = body.epoch ?? null;
    if (this.backlog > 0) this._accept(messages);
    this.cursor = Math.max(this.cursor ?? 0, newest);
    this._emit("backlog", { count: messages.length, first_id: body.first_id, last_id: body.last_id });
  }

  /**
   * Open `transport` and keep it until it ends. Resolves to `ended` (it was open),
   * `failed` (it never opened) or `refused` (the server answered it with a refusal).
   */
  _connect(transport) {
    switch (transport) {
      case "ws":
        return this._connectWebSocket();
      case "sse":
        return this._connectEventSource();
      case "longpoll":
        return this._connectPoll(true);
      default:
        return this._connectPoll(false);
    }
  }

  _connectWebSocket() {
    return new Promise((resolve) => {
      const url = this.client.streamUrl(this.room, { ...this._position(), user: this.user });
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      let opened = false;
      const ws = new WebSocket(url);
      const finish = () => {
        clearTimeout(timer);
        ws.onopen = ws.onmessage = ws.onclose = null;
        this._stop = null;
        resolve(opened ? "ended" : "failed");
      };
      // Closing does not wait for the close handshake: a dead peer never answers it.
      const abandon = () => {
        ws.close(1000);
        finish();
      };
      const timer = setTimeout(abandon, this.openTimeout);
      this._stop = abandon;
      ws.onopen = () => {
        clearTimeout(timer);
        opened = true;
        this._live();
      };
      ws.onmessage = (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch {
          return;
        }
        if (frame.type === "message") this._accept([frame.message]);
        else if (frame.type === "gap" || frame.type === "ready") {
          this._bounds(frame.first_id, frame.last_id, frame.epoch);
        } else if (EPHEMERAL.includes(frame.type)) {
          this._emit(frame.type, frame);
        }
      };
      ws.onclose = (event) => {
        // 4403: an admin disconnected this user; come back only after a while.
        if (event.code === 4403) this._disconnected(DISCONNECTED_WAIT_S);
        finish();
        // 4401: the token expired on the open socket (a reconnection would be refused).
        if (event.code === 4401) this._fail(expiredError(event.reason));
      };
    });
  }

  _connectEventSource() {
    return new Promise((resolve) => {
      // Our own cursor in the URL for the first connection. After a drop the browser
      // reconnects by itself (after the server's `retry`), sending the last `id:` it
      // received as Last-Event-ID, `EPOCH:N`, which the server prefers to the URL: the
      // cursor and its epoch, kept by the browser. Only a stream the browser gives up
      // on (or one that never opened) comes back here, for backoff and fallback.
      const url = this.client.streamUrl(this.room, { ...this._position(), user: this.user });
      let opened = false;
      const source = new EventSource(url);
      const end = () => {
        clearTimeout(timer);
        source.close();
        this._stop = null;
        resolve(opened ? "ended" : "failed");
      };
      const timer = setTimeout(end, this.openTimeout);
      this._stop = end;
      source.onopen = () => {
        clearTimeout(timer);
        opened = true;
        this._live();
      };
      source.addEventListener("message", (event) => {
        this._accept([JSON.parse(event.data)]);
      });
      const notice = (event) => {
        const bounds = JSON.parse(event.data);
        this._bounds(bounds.first_id, bounds.last_id, bounds.epoch);
      };
      source.addEventListener("gap", notice);
      source.addEventListener("ready", notice);
      source.onerror = () => {
        if (!opened || source.readyState === EventSource.CLOSED) end();
        else this._setState("reconnecting"); // the browser is on it, with Last-Event-ID
      };
      source.addEventListener("expired", (event) => {
        end();
        let message;
        try {
          message = JSON.parse(event.data).message;
        } catch {
          message = undefined;
        }
        this._fail(expiredError(message));
      });
      for (const type of EPHEMERAL) {
        source.addEventListener(type, (event) => this._emit(type, JSON.parse(event.data)));
      }
      source.addEventListener("disconnected", (event) => {
        // Our own wait instead of the browser's: it would come back after the `retry`.
        let wait = DISCONNECTED_WAIT_S;
        try {
          wait = Number(JSON.parse(event.data).retry_after) || wait;
        } catch {
          // The default wait.
        }
        this._disconnected(wait);
        end();
      });
    });
  }

  /** Long poll (`wait`) or short poll (every `pollInterval`) until a read fails. */
  async _connectPoll(long) {
    const abort = new AbortController();
    this._stop = () => abort.abort();
    let opened = false;
    let first = true;
    try {
      while (!this._closed) {
        // The first read is a short poll: it answers at once, so the state turns
        // live without waiting for a message.
        const wait = long && !first ? this.wait : undefined;
        const user = wait ? this.user : undefined; // a held long poll is present
        const url = this.client.messagesUrl(this.room, { ...this._position(), wait, user });
        const started = Date.now();
        const body = await this.client.getJson(url, {
          signal: abort.signal,
          timeout: (wait ?? 0) * 1000 + 10000,
        });
        if (this._closed) break;
        if (!opened) {
          opened = true;
          this._live();
        }
        // An answer in another epoch than the one sent: the log started over.
        this._bounds(body.first_id, body.last_id, body.epoch);
        this._accept(body.messages);
        const more = body.messages.length > 0 && this.cursor < body.last_id;
        // A long poll answered empty long before its wait: the server is shutting
        // down. Do not hammer it while it does.
        const early = long && wait && body.messages.length === 0 && Date.now() - started < 1000;
        if ((!long && !more) || early) await sleep(this.pollInterval, this._idleSignal());
        first = false;
      }
    } catch (err) {
      if (err instanceof HubbubError && err.denied) throw err; // the token: see _run
      // A 4xx to a well-formed read: something between us and the server refuses it.
      if (err instanceof HubbubError && !err.retryable) return "refused";
    } finally {
      this._stop = null;
    }
    return opened ? "ended" : "failed";
  }
}
