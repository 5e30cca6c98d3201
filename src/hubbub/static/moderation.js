// Moderation on the page: for a moderator of the open room (the token's `mod` claim, or
// `admin`), a "Delete" and a "Mute" button on every message of someone else; for
// everyone, notices of mutes and of an admin's disconnect, and a closed send box while
// this person is muted. The server decides: a refused action says why, on its button.

import { client, el, moderates, state, token, ui } from "./page-state.js";
import { askDelete } from "./corrections.js";
import { decorateMessages, showNotice } from "./messages.js";

const DURATIONS = [
  [300, "5 minutes"],
  [3600, "1 hour"],
  [86400, "1 day"],
];

/** Add the moderator's buttons to `item`: a confirmed message of someone else. */
decorateMessages(addModeration);

export function addModeration(item) {
  if (item.classList.contains("mine") || !item.dataset.id || item.querySelector(".actions")) return;
  if (!state.room || !moderates(state.room)) return;
  const target = Number(item.dataset.id);
  const user = item.dataset.user;
  const actions = el("div", "actions moderation");
  const remove = el("button", "action delete", "Delete");
  const mute = el("button", "action mute", "Mute");
  for (const button of [remove, mute]) button.type = "button";
  remove.setAttribute("aria-label", `Delete this message of ${user} (moderator)`);
  mute.setAttribute("aria-label", `Mute ${user} in #${state.room} (moderator)`);
  remove.addEventListener("click", () => askDelete(target, remove));
  mute.addEventListener("click", () => startMute(item, user, mute));
  actions.append(remove, mute);
  item.querySelector(".bubble").append(actions);
}

function startMute(item, user, button) {
  if (item.querySelector(".mute-form")) return;
  const room = state.room;
  const form = el("form", "mute-form");
  form.setAttribute("aria-label", `Mute ${user}`);
  const duration = el("select", "mute-duration");
  duration.setAttribute("aria-label", "For how long");
  for (const [seconds, label] of DURATIONS) {
    const option = el("option", "", label);
    option.value = String(seconds);
    duration.append(option);
  }
  const reason = el("input", "mute-reason");
  reason.type = "text";
  reason.maxLength = 500;
  reason.placeholder = "Reason (optional)";
  reason.setAttribute("aria-label", "Reason");
  const save = el("button", "action save", `Mute ${user}`);
  const cancel = el("button", "action cancel", "Cancel");
  save.type = "submit";
  cancel.type = "button";
  const status = el("span", "mute-status");
  status.setAttribute("role", "status");
  form.append(duration, reason, save, cancel, status);
  item.querySelector(".bubble").append(form);
  duration.focus();
  const close = () => {
    form.remove();
    button.focus();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      await muteUser(room, user, Number(duration.value), reason.value.trim());
      form.remove();
    } catch (error) {
      save.disabled = false;
      status.textContent = `Not muted: ${error.message}`;
    }
  });
}

/** POST /rooms/{room}/mutes with this page's token. */
async function muteUser(room, user, seconds, reason) {
  const url = new URL(`rooms/${encodeURIComponent(room)}/mutes`, client.baseUrl);
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ user, seconds, reason }),
  });
  if (!response.ok) {
    let message = `the server answered ${response.status}`;
    try {
      message = (await response.json()).error.message;
    } catch {
      // The status says enough.
    }
    throw new Error(message);
  }
}

// ---- Mutes and disconnects, as the room's stream tells them --------------------

let unmuteTimer = null;

function describe(seconds) {
  if (seconds >= 86400) return `${Math.round(seconds / 86400)} d`;
  if (seconds >= 3600) return `${Math.round(seconds / 3600)} h`;
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}

function lastSeq() {
  return (state.rooms.get(state.room) ?? 0) + 0.5;
}

function setMuted(until) {
  clearTimeout(unmuteTimer);
  const muted = until !== null && until > Date.now();
  ui.text.disabled = muted;
  ui.composer.classList.toggle("muted", muted);
  ui.text.placeholder = muted
    ? `You are muted in #${state.room} until ${new Date(until).toLocaleTimeString()}`
    : `Message #${state.room}`;
  if (muted) unmuteTimer = setTimeout(() => setMuted(null), until - Date.now());
}

/** Follow the open room's subscription `sub` for mutes and disconnects. */
export function followModeration(sub) {
  setMuted(null);
  sub.addEventListener("mute", (event) => {
    if (state.sub !== sub) return;
    const { user, seconds_left: left, reason, by, until } = event.detail;
    const why = reason ? `: ${reason}` : "";
    showNotice(`${user} was muted for ${describe(left)} by ${by}${why}`, lastSeq());
    if (user === state.name) setMuted(until);
  });
  sub.addEventListener("unmute", (event) => {
    if (state.sub !== sub) return;
    const { user, ended } = event.detail;
    if (!ended) showNotice(`${user} is no longer muted`, lastSeq());
    if (user === state.name) setMuted(null);
  });
  sub.addEventListener("disconnected", (event) => {
    if (state.sub !== sub) return;
    const wait = event.detail.retry_after;
    showNotice(`An admin disconnected you: reconnecting in ${wait} s.`, lastSeq());
  });
}
