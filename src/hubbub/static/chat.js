// The chat page: rooms, history, live messages and a send box, on top of hubbub-client.js.
//
// Message text is only ever put in the page with textContent: nothing a message
// holds is parsed as HTML (and the page's Content-Security-Policy forbids inline
// script besides).

import {
  HubbubClient,
  ROOM_PATTERN,
  TRANSPORTS,
  TRANSPORT_LABELS,
  newClientId,
} from "./hubbub-client.js";

const HISTORY_PAGE = 50;
const GROUP_WINDOW_MS = 5 * 60 * 1000; // consecutive messages of one user within this share a header
const ROOMS_REFRESH_MS = 15000;
const STORAGE = { name: "hubbub.name", room: "hubbub.room", read: "hubbub.read" };

const $ = (id) => document.getElementById(id);
const ui = {
  app: $("app"),
  roomName: $("room-name"),
  connection: $("connection"),
  connectionText: $("connection-text"),
  roomsToggle: $("rooms-toggle"),
  sidebar: $("sidebar"),
  scrim: $("scrim"),
  joinForm: $("join-form"),
  joinRoom: $("join-room"),
  joinError: $("join-error"),
  roomList: $("room-list"),
  meName: $("me-name"),
  meAvatar: $("me-avatar"),
  changeName: $("change-name"),
  scroller: $("messages"),
  list: $("message-list"),
  loadOlder: $("load-older"),
  startOfRoom: $("start-of-room"),
  jumpLatest: $("jump-latest"),
  composer: $("composer"),
  text: $("composer-text"),
  nameDialog: $("name-dialog"),
  nameForm: $("name-form"),
  nameInput: $("name-input"),
  nameError: $("name-error"),
  nameCancel: $("name-cancel"),
};

const params = new URLSearchParams(location.search);
const forced = params.get("transport");
const transports = TRANSPORTS.includes(forced) ? [forced] : TRANSPORTS;

const client = new HubbubClient({ baseUrl: new URL(".", location.href) });

const state = {
  name: storageGet(STORAGE.name),
  room: null,
  sub: null,
  byId: new Map(), // id -> <li> of every message shown
  pending: new Map(), // client_id -> <li> of own messages not yet confirmed
  oldestId: null,
  historyDone: false, // scrolled back to the oldest message the room keeps
  loaded: false, // the first read of the room is done
  loadingOlder: false,
  unseen: 0,
  rooms: new Map(), // name -> last_id, from GET /rooms
  read: readMarks(),
};

// Storage may be unavailable (private mode, blocked cookies): the page still works.
function storageGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Not remembered; nothing else depends on it.
  }
}

function readMarks() {
  try {
    return JSON.parse(storageGet(STORAGE.read) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- Names and avatars -------------------------------------------------------

function avatarClass(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `avatar tone-${hash % 8}`;
}

function initials(name) {
  const letters = [...name.trim()];
  return (letters[0] ?? "?").toUpperCase();
}

function showMe() {
  ui.meName.textContent = state.name ?? "";
  ui.meAvatar.className = avatarClass(state.name ?? "?");
  ui.meAvatar.textContent = initials(state.name ?? "?");
}

function askName() {
  ui.nameInput.value = state.name ?? "";
  ui.nameError.hidden = true;
  ui.nameCancel.hidden = !state.name;
  ui.nameDialog.showModal();
  ui.nameInput.focus();
  ui.nameInput.select();
}

ui.nameForm.addEventListener("submit", (event) => {
  const name = ui.nameInput.value.trim();
  // The protocol: 1 to 64 characters, no control characters.
  if (!name || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    event.preventDefault();
    ui.nameError.textContent = "Please enter a name (1 to 64 characters).";
    ui.nameError.hidden = false;
    return;
  }
  state.name = name;
  storageSet(STORAGE.name, name);
  showMe();
  restyleOwnMessages();
  ui.text.focus();
});

ui.nameCancel.addEventListener("click", () => ui.nameDialog.close());
ui.nameDialog.addEventListener("cancel", (event) => {
  if (!state.name) event.preventDefault(); // a name is needed before chatting
});
ui.nameDialog.addEventListener("close", () => {
  if (!state.name) askName();
});
ui.changeName.addEventListener("click", askName);

function restyleOwnMessages() {
  for (const item of ui.list.querySelectorAll("li.msg")) {
    item.classList.toggle("mine", item.dataset.user === state.name);
  }
}

// ---- Time --------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

function timeElement(ts) {
  const date = new Date(ts);
  const sameDay = date.toDateString() === new Date().toDateString();
  const node = el("time", "when", (sameDay ? timeFormat : dateTimeFormat).format(date));
  node.dateTime = date.toISOString();
  node.title = fullFormat.format(date);
  return node;
}

// ---- Messages ----------------------------------------------------------------

/** A message's list item; `message` may be a pending one (no id yet). */
function messageElement(message) {
  const item = el("li", "msg");
  item.dataset.user = message.user;
  if (message.client_id) item.dataset.clientId = message.client_id;
  if (message.user === state.name) item.classList.add("mine");

  const avatar = el("span", avatarClass(message.user), initials(message.user));
  avatar.setAttribute("aria-hidden", "true");

  const body = el("div", "bubble");
  const meta = el("div", "meta");
  meta.append(el("span", "author", message.user), " ");
  meta.append(message.ts ? timeElement(message.ts) : el("span", "when", ""));
  const status = el("span", "status");
  meta.append(status);
  body.append(meta, el("p", "text", message.text));
  item.append(avatar, body);
  if (message.id) confirmElement(item, message);
  return item;
}

function confirmElement(item, message) {
  item.dataset.id = String(message.id);
  item.dataset.seq = String(message.id);
  item.dataset.ts = String(message.ts);
  item.classList.remove("pending", "failed");
  item.removeAttribute("aria-busy");
  const when = item.querySelector(".when");
  when.replaceWith(timeElement(message.ts));
  const status = item.querySelector(".status");
  status.replaceChildren();
  state.byId.set(message.id, item);
  if (message.client_id) state.pending.delete(message.client_id);
}

/** Put `item` (a confirmed message or a notice, by its data-seq) in order, before pending ones. */
function place(item) {
  const seq = Number(item.dataset.seq);
  let after = ui.list.lastElementChild;
  while (after && (after.dataset.seq === undefined || Number(after.dataset.seq) > seq)) {
    after = after.previousElementSibling;
  }
  if (after) after.after(item);
  else ui.list.prepend(item);
  regroup(item);
  if (item.nextElementSibling) regroup(item.nextElementSibling);
}

/** Messages from one user within a few minutes share one header. */
function regroup(item) {
  if (!item.classList.contains("msg")) return;
  const prev = item.previousElementSibling;
  const continued =
    prev !== null &&
    prev.classList.contains("msg") &&
    prev.dataset.user === item.dataset.user &&
    item.dataset.ts !== undefined &&
    prev.dataset.ts !== undefined &&
    Number(item.dataset.ts) - Number(prev.dataset.ts) < GROUP_WINDOW_MS;
  item.classList.toggle("continued", continued);
}

function atBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
}

function scrollToBottom() {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  state.unseen = 0;
  ui.jumpLatest.hidden = true;
}

/** A message from the server (history or live): shown once, in id order. */
function showMessage(message) {
  if (state.byId.has(message.id)) return;
  const stick = atBottom();
  let item = message.client_id ? state.pending.get(message.client_id) : undefined;
  if (item) {
    item.remove();
    confirmElement(item, message);
  } else {
    item = messageElement(message);
  }
  place(item);
  if (state.oldestId === null || message.id < state.oldestId) state.oldestId = message.id;
  markRead(message.id);
  if (stick || message.user === state.name) {
    scrollToBottom();
  } else {
    state.unseen += 1;
    ui.jumpLatest.textContent = `${state.unseen} new message${state.unseen === 1 ? "" : "s"} ↓`;
    ui.jumpLatest.hidden = false;
  }
  updateHistoryEdge();
}

function showNotice(text, seq) {
  const item = el("li", "notice", text);
  item.setAttribute("role", "note");
  item.dataset.seq = String(seq);
  const stick = atBottom();
  place(item);
  if (stick) scrollToBottom();
}

function clearMessages() {
  ui.list.replaceChildren();
  state.byId.clear();
  state.pending.clear();
  state.oldestId = null;
  state.historyDone = false;
  state.loaded = false;
  state.unseen = 0;
  ui.jumpLatest.hidden = true;
}

/** The top of the list: a "load earlier" button, or the start of the room once reached. */
function updateHistoryEdge(exhausted = false) {
  if (exhausted) state.historyDone = true;
  const known = state.oldestId !== null;
  const done = state.historyDone || (known && state.oldestId <= 1) || (!known && state.loaded);
  ui.loadOlder.hidden = !known || done;
  ui.startOfRoom.hidden = !done;
  ui.startOfRoom.textContent = `This is the start of #${state.room}.`;
}

async function loadOlder() {
  if (state.loadingOlder || state.oldestId === null || state.oldestId <= 1) return;
  state.loadingOlder = true;
  const room = state.room;
  ui.list.setAttribute("aria-busy", "true");
  try {
    const page = await client.history(room, { before: state.oldestId, limit: HISTORY_PAGE });
    if (room !== state.room) return;
    // Keep what the reader looks at in place while older messages go in above it.
    const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
    for (const message of page.messages) {
      if (state.byId.has(message.id)) continue;
      const item = messageElement(message);
      place(item);
      if (message.id < state.oldestId) state.oldestId = message.id;
    }
    ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
    const exhausted = page.messages.length < HISTORY_PAGE || page.messages[0].id <= page.first_id;
    const hadFocus = document.activeElement === ui.loadOlder;
    updateHistoryEdge(exhausted);
    // The button goes once the start is reached: keep keyboard focus in the history.
    if (hadFocus && ui.loadOlder.hidden) ui.scroller.focus();
  } catch {
    // Offline for now: the next scroll or click tries again.
  } finally {
    state.loadingOlder = false;
    ui.list.removeAttribute("aria-busy");
  }
}

ui.loadOlder.addEventListener("click", loadOlder);
ui.scroller.addEventListener(
  "scroll",
  () => {
    // Near the top, older messages load by themselves; not when the button has the
    // focus (focusing it scrolls it into view): then the keyboard user presses it.
    const nearTop = ui.scroller.scrollTop < 120 && !ui.loadOlder.hidden;
    if (nearTop && document.activeElement !== ui.loadOlder) loadOlder();
    if (atBottom()) {
      state.unseen = 0;
      ui.jumpLatest.hidden = true;
    }
  },
  { passive: true },
);
ui.jumpLatest.addEventListener("click", () => {
  scrollToBottom();
  ui.text.focus();
});

// ---- Connection --------------------------------------------------------------

function showConnection({ state: phase, transport, delay }) {
  const label = TRANSPORT_LABELS[transport] ?? transport;
  let text;
  if (phase === "live") text = `${label} · live`;
  else if (phase === "connecting") text = `${label} · connecting…`;
  else if (phase === "reconnecting" && delay)
    text = `${label} · reconnecting in ${Math.max(1, Math.round(delay / 1000))} s`;
  else if (phase === "reconnecting") text = `${label} · reconnecting…`;
  else text = `${label} · ${phase}`;
  ui.connection.dataset.state = phase;
  ui.connection.dataset.transport = transport;
  ui.connectionText.textContent = text;
}

function joinRoom(room, { focus = true } = {}) {
  if (state.sub) state.sub.close();
  state.room = room;
  storageSet(STORAGE.room, room);
  if (location.hash.slice(1) !== room) history.replaceState(null, "", `#${room}`);
  document.title = `#${room} · hubbub`;
  ui.roomName.textContent = room;
  ui.list.setAttribute("aria-label", `Messages in #${room}`);
  ui.text.placeholder = `Message #${room}`;
  clearMessages();
  updateHistoryEdge();
  // The backlog is not news: screen readers announce only what arrives after it.
  ui.list.setAttribute("aria-busy", "true");
  rememberRoom(room);
  renderRooms();
  closeDrawer();

  const sub = client.subscribe(room, {
    backlog: HISTORY_PAGE,
    transports,
    pollInterval: 1000, // only when nothing better works; a chat should feel live
    backoff: { initial: 250, max: 5000 },
  });
  state.sub = sub;
  sub.addEventListener("message", (event) => {
    if (state.sub === sub) showMessage(event.detail);
  });
  sub.addEventListener("gap", (event) => {
    if (state.sub !== sub) return;
    const { from, to, reset } = event.detail;
    if (reset) {
      clearMessages();
      showNotice("The server's copy of this room was reset; showing what it holds now.", 0);
    } else {
      const count = to - from + 1;
      showNotice(
        `${count} message${count === 1 ? "" : "s"} (#${from}–#${to}) could not be loaded: ` +
          "the server no longer keeps them.",
        to + 0.5,
      );
    }
  });
  sub.addEventListener("state", (event) => {
    if (state.sub !== sub) return;
    showConnection(event.detail);
  });
  sub.addEventListener("backlog", (event) => {
    if (state.sub !== sub) return;
    state.loaded = true;
    ui.list.removeAttribute("aria-busy");
    updateHistoryEdge(state.oldestId !== null && state.oldestId <= event.detail.first_id);
  });
  sub.addEventListener("error", (event) => {
    if (state.sub === sub) showNotice(`Cannot follow this room: ${event.detail.error.message}`, 0);
  });
  showConnection({ state: sub.state, transport: sub.transport });
  if (focus) ui.text.focus();
}

// ---- Rooms -------------------------------------------------------------------

function markRead(id) {
  const room = state.room;
  if ((state.read[room] ?? 0) < id) {
    state.read[room] = id;
    storageSet(STORAGE.read, JSON.stringify(state.read));
  }
  if ((state.rooms.get(room) ?? 0) < id) state.rooms.set(room, id);
}

function rememberRoom(room) {
  if (!state.rooms.has(room)) state.rooms.set(room, 0);
}

function renderRooms() {
  const names = [...state.rooms.keys()].sort((a, b) => a.localeCompare(b));
  const items = names.map((name) => {
    const item = el("li");
    const link = el("a", "room-link");
    link.href = `#${name}`;
    const label = el("span", "room-label");
    label.append(el("span", "hash", "#"), el("span", "name", name));
    link.append(label);
    if (name === state.room) link.setAttribute("aria-current", "page");
    const unread = name === state.room ? 0 : (state.rooms.get(name) ?? 0) - (state.read[name] ?? 0);
    if (unread > 0 && state.read[name] !== undefined) {
      const badge = el("span", "badge", unread > 99 ? "99+" : String(unread));
      badge.setAttribute("aria-label", `${unread} unread`);
      link.append(badge);
    }
    item.append(link);
    return item;
  });
  ui.roomList.replaceChildren(...items);
}

async function refreshRooms() {
  try {
    const rooms = await client.rooms();
    for (const { name, last_id } of rooms) state.rooms.set(name, last_id);
    renderRooms();
  } catch {
    // The connection indicator already tells that the server is unreachable.
  }
}

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const room = ui.joinRoom.value.trim().replace(/^#/, "");
  if (!ROOM_PATTERN.test(room)) {
    ui.joinError.textContent =
      "A room name is 1 to 64 letters, digits, _ . or -, and does not start with a dot.";
    ui.joinError.hidden = false;
    ui.joinRoom.setAttribute("aria-invalid", "true");
    ui.joinRoom.focus();
    return;
  }
  ui.joinError.hidden = true;
  ui.joinRoom.removeAttribute("aria-invalid");
  ui.joinRoom.value = "";
  if (room !== state.room) location.hash = room; // hashchange joins
  else closeDrawer();
});

window.addEventListener("hashchange", () => {
  const room = decodeURIComponent(location.hash.slice(1));
  if (ROOM_PATTERN.test(room) && room !== state.room) joinRoom(room);
});

// The drawer (phone-sized windows): the room list slides over the chat.
function openDrawer() {
  ui.app.dataset.drawer = "open";
  ui.roomsToggle.setAttribute("aria-expanded", "true");
  ui.scrim.hidden = false;
  ui.joinRoom.focus();
}

function closeDrawer() {
  if (ui.app.dataset.drawer !== "open") return;
  ui.app.dataset.drawer = "closed";
  ui.roomsToggle.setAttribute("aria-expanded", "false");
  ui.scrim.hidden = true;
}

ui.roomsToggle.addEventListener("click", () => {
  if (ui.app.dataset.drawer === "open") {
    closeDrawer();
    ui.roomsToggle.focus();
  } else {
    openDrawer();
  }
});
ui.scrim.addEventListener("click", closeDrawer);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && ui.app.dataset.drawer === "open") {
    closeDrawer();
    ui.roomsToggle.focus();
  }
});

// ---- Sending -----------------------------------------------------------------

function autosize() {
  ui.text.style.height = "auto";
  ui.text.style.height = `${Math.min(ui.text.scrollHeight, 200)}px`;
}

ui.text.addEventListener("input", autosize);
ui.text.addEventListener("keydown", (event) => {
  // Enter sends; Shift+Enter is a new line; an IME composing text keeps its Enter.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.text.value;
  if (!text.trim()) return;
  if (!state.name) {
    askName();
    return;
  }
  ui.text.value = "";
  autosize();
  send(state.room, { user: state.name, text, client_id: newClientId() });
});

/** Show `message` at once as pending, publish it (retrying with the same client_id). */
async function send(room, message, item) {
  if (!item) {
    item = messageElement(message);
    item.classList.add("pending");
    item.setAttribute("aria-busy", "true");
    ui.list.append(item);
    regroup(item);
    scrollToBottom();
  }
  state.pending.set(message.client_id, item);
  const status = item.querySelector(".status");
  status.replaceChildren(el("span", "status-text", "Sending…"));
  try {
    const { message: stored } = await client.publish(
      room,
      { user: message.user, text: message.text, clientId: message.client_id },
      {
        attempts: 12,
        backoff: { initial: 250, max: 4000 },
        onRetry: () => status.replaceChildren(el("span", "status-text", "Retrying…")),
      },
    );
    if (room !== state.room || !item.isConnected) return;
    if (!state.byId.has(stored.id)) {
      item.remove();
      confirmElement(item, stored);
      place(item);
      markRead(stored.id);
      if (atBottom()) scrollToBottom();
    } else if (state.byId.get(stored.id) !== item) {
      item.remove(); // the stream delivered it first, as its own element
    }
    if (state.sub?.transport === "poll") state.sub.poke();
    if (!state.rooms.has(room) || state.rooms.get(room) < stored.id) {
      state.rooms.set(room, stored.id);
      renderRooms();
    }
  } catch (error) {
    if (!item.isConnected) return;
    item.classList.remove("pending");
    item.classList.add("failed");
    item.removeAttribute("aria-busy");
    const retry = el("button", "link-button", "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => {
      item.classList.remove("failed");
      item.classList.add("pending");
      send(room, message, item); // same client_id: never stored twice
    });
    status.replaceChildren(el("span", "status-text", `Not sent: ${error.message}. `), retry);
  }
}

// ---- Start -------------------------------------------------------------------

function initialRoom() {
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (ROOM_PATTERN.test(fromHash)) return fromHash;
  const remembered = storageGet(STORAGE.room);
  if (remembered && ROOM_PATTERN.test(remembered)) return remembered;
  return "lobby";
}

showMe();
joinRoom(initialRoom(), { focus: false });
refreshRooms();
setInterval(refreshRooms, ROOMS_REFRESH_MS);
if (state.name) ui.text.focus();
else askName();
