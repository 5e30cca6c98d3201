// The chat page's shared state: constants, the page's elements, the client, what
// this browser remembers, and a small element builder. Every other page module
// imports from here; this module imports nothing of the page's own.

import { HubbubClient } from "./hubbub-client.js";

export const HISTORY_PAGE = 50;
export const GROUP_WINDOW_MS = 5 * 60 * 1000; // consecutive messages of one user within this share a header
export const ROOMS_REFRESH_MS = 15000;
export const STORAGE = { name: "hubbub.name", room: "hubbub.room", read: "hubbub.read" };

const $ = (id) => document.getElementById(id);
export const ui = {
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
  presence: $("presence"),
  typing: $("typing"),
};

export const client = new HubbubClient({ baseUrl: new URL(".", location.href) });

export const state = {
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
  rooms: new Map(), // name -> last_id, from GET /rooms and the /ws connection
  read: readMarks(),
  present: new Set(), // who is in the open room
  typers: new Map(), // user -> timer clearing their "is typing"
};

// Storage may be unavailable (private mode, blocked cookies): the page still works.
export function storageGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function storageSet(key, value) {
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

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
