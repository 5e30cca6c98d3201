// The chat page: rooms, history, live messages and a send box, on top of hubbub-client.js.
//
// Message text is only ever put in the page with textContent: nothing a message
// holds is parsed as HTML (and the page's Content-Security-Policy forbids inline
// script besides).
//
// This is the entry module: the connection indicator, joining a room, and start-up.
// The rest of the page is in page-state.js (shared state), names.js, messages.js,
// rooms.js, composer.js and moderation.js; importing them sets up their event listeners.

import { ROOM_PATTERN, TRANSPORTS, TRANSPORT_LABELS } from "./hubbub-client.js";
import {
  HISTORY_PAGE,
  ROOMS_REFRESH_MS,
  STORAGE,
  client,
  state,
  storageGet,
  storageSet,
  ui,
} from "./page-state.js";
import { askName, showMe } from "./names.js";
import { clearMessages, showMessage, showNotice, updateHistoryEdge } from "./messages.js";
import { closeDrawer, refreshRooms, rememberRoom, renderRooms } from "./rooms.js";
import "./composer.js";
import "./search.js";
import { connectUnread, followRoom, syncUnread } from "./live.js";
import { followModeration } from "./moderation.js";

const params = new URLSearchParams(location.search);
const forced = params.get("transport");
const transports = TRANSPORTS.includes(forced) ? [forced] : TRANSPORTS;

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

/**
 * Open `room`: its newest messages, or with `around` (a search hit's id) the messages
 * around that one, shown marked; either way the stream goes on after the last shown.
 */
function joinRoom(room, { focus = true, around = null } = {}) {
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
    user: state.name ?? undefined,
    view: "latest", // the backlog shows edited text and deleted messages as such
    around: around ?? undefined,
  });
  state.sub = sub;
  followRoom(sub);
  followModeration(sub);
  syncUnread();
  sub.addEventListener("message", (event) => {
    if (state.sub === sub) showMessage(event.detail);
  });
  sub.addEventListener("gap", (event) => {
    if (state.sub !== sub) return;
    const { from, to, reset, last_id: lastId } = event.detail;
    if (reset) {
      // The room's log started over (a new epoch): the ids shown so far now name other
      // messages, so they go, and whatever the old log held after them is lost.
      clearMessages();
      state.rooms.set(state.room, lastId);
      showNotice(
        "The server's copy of this room was reset: messages sent before the reset that " +
          "were not shown here are lost. Showing what it holds now.",
        0,
      );
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
    const hit = around === null ? null : state.byId.get(around);
    if (hit) {
      hit.classList.add("hit-target");
      hit.scrollIntoView({ block: "center" });
    }
  });
  sub.addEventListener("error", (event) => {
    if (state.sub === sub) showNotice(refusalText(event.detail.error, room), 0);
  });
  showConnection({ state: sub.state, transport: sub.transport });
  if (focus) ui.text.focus();
}

/** What a refusal means to the person reading, in plain words. */
function refusalText(error, room) {
  if (error.code === "forbidden")
    return `You are not allowed in #${room}: your access token does not include it.`;
  if (error.code === "unauthorized" && /expired/.test(error.message))
    return "Your access token has expired: open the page again with a fresh one.";
  if (error.code === "unauthorized")
    return `This server needs a valid access token (${error.message}): open the page with /#token=...`;
  return `Cannot follow this room: ${error.message}`;
}

document.addEventListener("hubbub:name", () => {
  if (state.room) joinRoom(state.room, { focus: false });
});

document.addEventListener("hubbub:open-hit", (event) => {
  joinRoom(event.detail.room, { around: event.detail.id });
});

window.addEventListener("hashchange", () => {
  const room = decodeURIComponent(location.hash.slice(1));
  if (ROOM_PATTERN.test(room) && room !== state.room) joinRoom(room);
});

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
refreshRooms().then(syncUnread);
setInterval(() => refreshRooms().then(syncUnread), ROOMS_REFRESH_MS);
connectUnread();
if (state.name) ui.text.focus();
else askName();
