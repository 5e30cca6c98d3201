// Messages: time stamps, rendering messages and notices in order, scrolling, and
// loading older history when the reader scrolls back.
//
// Message text is only ever put in the page with textContent: nothing a message
// holds is parsed as HTML.

import { GROUP_WINDOW_MS, HISTORY_PAGE, client, el, state, ui } from "./page-state.js";
import { avatarClass, initials } from "./names.js";
import { markRead } from "./rooms.js";
import { addActions, removeActions } from "./corrections.js";

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
export function messageElement(message) {
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

export function confirmElement(item, message) {
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
  addActions(item);
  for (const decorate of decorators) decorate(item);
}

// What other modules add to a confirmed message (moderation's Delete and Mute): they
// register here, so this module imports none of them.
const decorators = [];

/** Call `decorate(item)` on every message confirmed from now on. */
export function decorateMessages(decorate) {
  decorators.push(decorate);
}

/** Put `item` (a confirmed message or a notice, by its data-seq) in order, before pending ones. */
export function place(item) {
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
export function regroup(item) {
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

export function atBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
}

export function scrollToBottom() {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  state.unseen = 0;
  ui.jumpLatest.hidden = true;
}

/** An edit or delete: the message it corrects, if shown, changes in place. */
function applyCorrection(correction) {
  markRead(correction.id);
  const item = state.byId.get(correction.target);
  if (!item || item.classList.contains("deleted")) return; // a delete is final
  if (correction.kind === "delete") markDeleted(item);
  else if (correction.kind === "edit") markEdited(item, correction.text);
}

function markEdited(item, text) {
  item.querySelector(".text").textContent = text;
  if (!item.querySelector(".edited")) item.querySelector(".meta").append(el("span", "edited", "edited"));
}

function markDeleted(item) {
  item.classList.add("deleted");
  item.querySelector(".text").textContent = "message deleted";
  item.querySelector(".edited")?.remove();
  removeActions(item);
}

/** A message from the server (history or live): shown once, in id order. */
export function showMessage(message) {
  if (message.kind === "edit" || message.kind === "delete") {
    applyCorrection(message);
    return;
  }
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
  // History read with ?view=latest shows a message as its corrections left it.
  if (message.deleted) markDeleted(item);
  else if (message.edited) markEdited(item, message.text);
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

export function showNotice(text, seq) {
  const item = el("li", "notice", text);
  item.setAttribute("role", "note");
  item.dataset.seq = String(seq);
  const stick = atBottom();
  place(item);
  if (stick) scrollToBottom();
}

export function clearMessages() {
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
export function updateHistoryEdge(exhausted = false) {
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
    const page = await client.history(room, {
      before: state.oldestId,
      limit: HISTORY_PAGE,
      view: "latest",
    });
    if (room !== state.room) return;
    // Keep what the reader looks at in place while older messages go in above it.
    const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
    for (const message of page.messages) {
      if (state.byId.has(message.id) || message.kind) continue; // corrections are applied
      const item = messageElement(message);
      place(item);
      if (message.deleted) markDeleted(item);
      else if (message.edited) markEdited(item, message.text);
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
