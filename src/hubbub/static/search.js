// Search: the box in the top bar (`/` or Ctrl+K focuses it), the results over the
// messages, and opening a hit in its room.
//
// A hit's text is put in the page as text nodes, its matched ranges each in a <mark>
// whose text is set with textContent: nothing a message holds is parsed as HTML.
// Opening a hit dispatches `hubbub:open-hit` ({room, id}); chat.js joins the room with
// the messages around that one, and the live stream goes on from the last of them.

import { matchedParts } from "./hubbub-client.js";
import { client, el, state, ui } from "./page-state.js";

const PAGE = 20;
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

let query = "";
let next = null;
let running = null; // AbortController of the search in flight

function hitElement(hit) {
  const button = el("button", "hit");
  button.type = "button";
  button.dataset.room = hit.room;
  button.dataset.id = String(hit.id);
  const when = dateTimeFormat.format(new Date(hit.ts));
  const edited = hit.edited ? " · edited" : "";
  button.append(el("span", "hit-meta", `#${hit.room} · ${hit.user} · ${when}${edited}`));
  const text = el("span", "hit-text");
  for (const part of matchedParts(hit.text, hit.ranges)) {
    text.append(part.matched ? el("mark", "", part.text) : document.createTextNode(part.text));
  }
  button.append(text);
  button.addEventListener("click", () => openHit(hit));
  const item = el("li", "hit-item");
  item.append(button);
  return item;
}

function openHit(hit) {
  closeResults();
  document.dispatchEvent(new CustomEvent("hubbub:open-hit", { detail: { room: hit.room, id: hit.id } }));
}

function closeResults() {
  running?.abort();
  ui.searchResults.hidden = true;
}

async function run(more) {
  running?.abort();
  const controller = (running = new AbortController());
  ui.searchResults.hidden = false;
  if (!more) {
    ui.hitList.replaceChildren();
    ui.searchStatus.textContent = "Searching…";
  }
  ui.searchMore.hidden = true;
  try {
    const body = await client.search(query, {
      limit: PAGE,
      next: more ? next : undefined,
      signal: controller.signal,
    });
    if (controller.signal.aborted) return;
    ui.hitList.append(...body.hits.map(hitElement));
    next = body.next;
    ui.searchMore.hidden = next === null;
    const shown = ui.hitList.childElementCount;
    ui.searchStatus.textContent = shown === 0
      ? `No messages match “${query}”.`
      : `${shown}${next === null ? "" : "+"} message${shown === 1 ? "" : "s"} match “${query}”.`;
  } catch (error) {
    if (controller.signal.aborted) return;
    ui.searchStatus.textContent = error.code === "invalid_query"
      ? `That search cannot be run: ${error.message}.`
      : `Search failed: ${error.message}`;
  }
}

ui.searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  query = ui.searchInput.value.trim();
  next = null;
  if (query) run(false);
  else closeResults();
});

ui.searchMore.addEventListener("click", () => run(true));
ui.searchClose.addEventListener("click", () => {
  closeResults();
  ui.searchInput.focus();
});

function typingSomewhere(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

document.addEventListener("keydown", (event) => {
  const ctrlK = (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k";
  if (ctrlK || (event.key === "/" && !typingSomewhere(event.target) && !event.altKey)) {
    event.preventDefault();
    ui.searchInput.focus();
    ui.searchInput.select();
  } else if (event.key === "Escape" && !ui.searchResults.hidden) {
    closeResults();
    if (state.room) ui.text.focus();
  }
});
