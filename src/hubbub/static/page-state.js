// The chat page's shared state: constants, the page's elements, the client, what
// this browser remembers, and a small element builder. Every other page module
// imports from here; this module imports nothing of the page's own.

import { HubbubClient } from "./hubbub-client.js";
import { pageToken } from "./page-token.js";

export const HISTORY_PAGE = 50;
export const GROUP_WINDOW_MS = 5 * 60 * 1000; // consecutive messages of one user within this share a header
export const ROOMS_REFRESH_MS = 15000;
export const STORAGE = { name: "hubbub.name", room: "hubbub.room", read: "hubbub.read" };
const TOKEN_KEY = "hubbub.token"; // in sessionStorage: this tab only

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
  presenceBox: $("presence-box"),
  presenceSummary: $("presence-summary"),
  typing: $("typing"),
  searchForm: $("search-form"),
  searchInput: $("search-input"),
  searchResults: $("search-results"),
  searchStatus: $("search-status"),
  searchClose: $("search-close"),
  searchMore: $("search-more"),
  hitList: $("hit-list"),
};

/** A token's claims, read for display only: the server checks the token. */
function tokenClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : {};
  } catch {
    return {};
  }
}

export const token = pageToken(TOKEN_KEY);
const claims = token ? tokenClaims(token) : {};
/** With a token the user is the token's, not a name picked on this page. */
export const tokenName =
  typeof claims.sub === "string" && claims.sub.trim() ? claims.sub.trim() : null;
const modPatterns = Array.isArray(claims.mod) ? claims.mod.filter((p) => typeof p === "string") : [];

/**
 * Whether this page's token moderates `room` (its `mod` claim, or `admin: true`), to
 * show the moderator's buttons; the server decides what they may really do.
 */
export function moderates(room) {
  if (claims.admin === true) return true;
  return modPatterns.some((pattern) =>
    pattern.endsWith("*") ? room.startsWith(pattern.slice(0, -1)) : room === pattern,
  );
}

export const client = new HubbubClient({ baseUrl: new URL(".", location.href), token });

export const state = {
  name: tokenName ?? storageGet(STORAGE.name),
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
  corrections: new Map(), // name -> ids of edits and deletes seen there (never unread)
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
