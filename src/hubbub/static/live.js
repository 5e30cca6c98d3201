// Live extras: who is in the open room, who is typing in it, and unread counts for the
// other joined rooms over one `GET /ws` connection.
//
// The open room's own subscription (chat.js) carries `?user=`, so this person is present
// there and its `presence` and `typing` events arrive on it (WebSocket and SSE; on the
// polling transports the list is read every few seconds instead). The sidebar's other
// rooms are followed over one anonymous `/ws` socket: its `ready` and `message` frames
// move each room's newest id, and the badge is that minus this browser's read mark
// (rooms.js). Without WebSocket the room list's periodic refresh keeps the counts.

import { client, el, state, ui } from "./page-state.js";
import { byName, readMark, renderRooms } from "./rooms.js";

const TYPING_SHOWN_MS = 4000; // "is typing" stays this long after the last notice
const TYPING_SEND_MS = 1500; // at most one notice of ours this often
const PRESENCE_POLL_MS = 5000; // the list's refresh when the transport has no events
const WS_RETRY_MS = 3000;
// A followed room is read from its read mark, so that the edits and deletes past it are
// known and not counted as unread; from at most this many ids back (past that, the badge
// says 99+ anyway).
const UNREAD_REPLAY = 200;

// ---- Presence and typing in the open room -----------------------------------

const NAMED = 2; // names the summary shows before "and N others"

/** "alice", "alice and bob", "alice, bob and carol", "alice, bob and 12 others". */
export function presenceSummary(names) {
  if (names.length <= NAMED + 1) {
    return names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  }
  return `${names.slice(0, NAMED).join(", ")} and ${names.length - NAMED} others`;
}

// The header holds a summary of bounded size (a button); the full list opens under it.
function renderPresence() {
  const names = [...state.present].sort(byName);
  const summary = ui.presenceSummary;
  summary.hidden = names.length === 0;
  summary.replaceChildren(
    el("span", "who", presenceSummary(names)),
    el("span", "count", String(names.length)),
  );
  summary.setAttribute("aria-label", `In this room: ${presenceSummary(names)}`);
  ui.presence.replaceChildren(...names.map((name) => el("li", "present", name)));
  if (names.length === 0) showPresence(false);
}

function showPresence(open) {
  ui.presence.hidden = !open;
  ui.presenceSummary.setAttribute("aria-expanded", String(open));
}

ui.presenceSummary.addEventListener("click", () => showPresence(ui.presence.hidden));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !ui.presence.hidden) {
    showPresence(false);
    ui.presenceSummary.focus();
  }
});
document.addEventListener("click", (event) => {
  if (!ui.presence.hidden && !ui.presenceBox.contains(event.target)) showPresence(false);
});

function renderTyping() {
  const names = [...state.typers.keys()].sort(byName);
  if (names.length === 0) ui.typing.textContent = "";
  else if (names.length === 1) ui.typing.textContent = `${names[0]} is typing…`;
  else ui.typing.textContent = `${names.join(", ")} are typing…`;
}

function stopTyping(user) {
  clearTimeout(state.typers.get(user));
  if (state.typers.delete(user)) renderTyping();
}

let presenceTimer = null;

/** Follow presence and typing on the open room's subscription `sub`. */
export function followRoom(sub) {
  state.present.clear();
  for (const user of [...state.typers.keys()]) stopTyping(user);
  renderPresence();
  clearInterval(presenceTimer);
  sub.addEventListener("presence", (event) => {
    if (state.sub !== sub) return;
    for (const user of event.detail.joined) state.present.add(user);
    for (const user of event.detail.left) state.present.delete(user);
    renderPresence();
  });
  sub.addEventListener("typing", (event) => {
    const { user } = event.detail;
    if (state.sub !== sub || user === state.name) return;
    clearTimeout(state.typers.get(user));
    state.typers.set(user, setTimeout(() => stopTyping(user), TYPING_SHOWN_MS));
    renderTyping();
  });
  sub.addEventListener("message", (event) => {
    if (state.sub === sub) stopTyping(event.detail.user); // they sent it: done typing
  });
  // Polling transports get no events: read who is here now and then.
  presenceTimer = setInterval(async () => {
    if (state.sub !== sub || sub.transport === "ws" || sub.transport === "sse") return;
    try {
      const body = await client.presence(sub.room);
      if (state.sub !== sub) return;
      state.present = new Set(body.users.map((entry) => entry.user));
      renderPresence();
    } catch {
      // Unreachable for now; the connection indicator says so.
    }
  }, PRESENCE_POLL_MS);
}

let lastTypingSent = 0;
ui.text.addEventListener("input", () => {
  const now = Date.now();
  if (!state.name || !state.room || !ui.text.value.trim() || now - lastTypingSent < TYPING_SEND_MS) {
    return;
  }
  lastTypingSent = now;
  client.typing(state.room, state.name);
});

// ---- Unread counts over one /ws connection ------------------------------------

let socket = null;
const followed = new Set(); // rooms subscribed on the socket

/** The rooms whose unread count matters: joined (read here before), not the open one. */
function wanted() {
  return [...state.rooms.keys()].filter(
    (room) => room !== state.room && state.read[room] !== undefined,
  );
}

function send(frame) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

/** Subscribe to joined rooms not followed yet, and drop the open one. */
export function syncUnread() {
  if (socket?.readyState !== WebSocket.OPEN) return;
  const want = new Set(wanted());
  for (const room of [...followed]) {
    if (!want.has(room)) {
      followed.delete(room);
      send({ type: "unsubscribe", room });
    }
  }
  for (const room of want) {
    if (!followed.has(room)) {
      followed.add(room);
      const mark = readMark(room);
      const frame = { type: "subscribe", room }; // without a mark: from now
      if (mark !== null) {
        frame.since = Math.max(mark.id, (state.rooms.get(room) ?? 0) - UNREAD_REPLAY);
        if (mark.epoch !== null) frame.epoch = mark.epoch;
      }
      send(frame);
    }
  }
}

/** Id `id` (a message of `kind`, or a room's newest id) was seen in `room`. */
function newest(room, id, kind) {
  let changed = false;
  if (kind === "edit" || kind === "delete") {
    if (!state.corrections.has(room)) state.corrections.set(room, new Set());
    state.corrections.get(room).add(id);
    changed = true;
  }
  if ((state.rooms.get(room) ?? 0) < id) {
    state.rooms.set(room, id);
    changed = true;
  }
  if (changed) renderRooms();
}

export function connectUnread() {
  if (typeof WebSocket === "undefined") return; // the room list's refresh keeps counts
  const url = new URL("ws", new URL(".", location.href));
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(url);
  socket.onopen = () => syncUnread();
  socket.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.room === state.room) return; // the open room's own subscription shows it
    if (frame.type === "ready") newest(frame.room, frame.last_id);
    else if (frame.type === "message") newest(frame.room, frame.message.id, frame.message.kind);
  };
  socket.onclose = () => {
    followed.clear();
    socket = null;
    setTimeout(connectUnread, WS_RETRY_MS);
  };
}
