// Rooms: the room list, unread marks, joining by name, and the drawer that holds
// the list on phone-sized windows.

import { ROOM_PATTERN } from "./hubbub-client.js";
import { STORAGE, client, el, state, storageSet, ui } from "./page-state.js";

/**
 * A room's read mark, `{id, epoch}`: the last id read there and the epoch of the log it
 * belongs to (null: not known, e.g. remembered as a bare id by an older page); or null.
 */
export function readMark(room) {
  const mark = state.read[room];
  if (typeof mark === "number") return { id: mark, epoch: null };
  return mark && typeof mark.id === "number" ? { id: mark.id, epoch: mark.epoch ?? null } : null;
}

/** Id `id` of the current room was read (in the log of the room's subscription). */
export function markRead(id) {
  const room = state.room;
  const epoch = state.sub?.epoch ?? null;
  const mark = readMark(room);
  // A mark of another log (the room was reset since) says nothing about this one.
  const stale = mark !== null && mark.epoch !== null && epoch !== null && mark.epoch !== epoch;
  const known = mark === null || stale ? 0 : mark.id;
  if (known < id || stale || (epoch !== null && mark?.epoch !== epoch)) {
    state.read[room] = { id: Math.max(known, id), epoch: epoch ?? mark?.epoch ?? null };
    storageSet(STORAGE.read, JSON.stringify(state.read));
  }
  if ((state.rooms.get(room) ?? 0) < id) state.rooms.set(room, id);
}

export function rememberRoom(room) {
  if (!state.rooms.has(room)) state.rooms.set(room, 0);
  if (state.read[room] === undefined) {
    // Joined: from now on its unread count matters, even while it is still empty.
    state.read[room] = 0;
    storageSet(STORAGE.read, JSON.stringify(state.read));
  }
}

/** New messages in `room` after id `read`: its ids past the mark but edits and deletes
 * (seen over /ws; without it, the ids past the mark). */
function unreadIn(room, read) {
  const last = state.rooms.get(room) ?? 0;
  const corrections = state.corrections.get(room);
  let skipped = 0;
  for (const id of corrections ?? []) {
    if (id <= read) corrections.delete(id); // read already: forgotten
    else if (id <= last) skipped += 1;
  }
  return last - read - skipped;
}

/** Rooms by name, numbers in names in numeric order (team-2 before team-10). */
export function byName(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

export function renderRooms() {
  const names = [...state.rooms.keys()].sort(byName);
  const items = names.map((name) => {
    const item = el("li");
    const link = el("a", "room-link");
    link.href = `#${name}`;
    const label = el("span", "room-label");
    label.append(el("span", "hash", "#"), el("span", "name", name));
    link.append(label);
    if (name === state.room) link.setAttribute("aria-current", "page");
    const mark = readMark(name);
    const unread = name === state.room || mark === null ? 0 : unreadIn(name, mark.id);
    if (unread > 0) {
      const badge = el("span", "badge", unread > 99 ? "99+" : String(unread));
      badge.setAttribute("aria-label", `${unread} unread`);
      link.append(badge);
    }
    item.append(link);
    return item;
  });
  ui.roomList.replaceChildren(...items);
}

export async function refreshRooms() {
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

// The drawer (phone-sized windows): the room list slides over the chat.
function openDrawer() {
  ui.app.dataset.drawer = "open";
  ui.roomsToggle.setAttribute("aria-expanded", "true");
  ui.scrim.hidden = false;
  ui.joinRoom.focus();
}

export function closeDrawer() {
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
