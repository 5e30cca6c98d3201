// The send box: sizing, Enter to send, and sending with retries.

import { newClientId } from "./hubbub-client.js";
import { client, el, state, ui } from "./page-state.js";
import { askName } from "./names.js";
import { atBottom, confirmElement, messageElement, place, regroup, scrollToBottom } from "./messages.js";
import { markRead, renderRooms } from "./rooms.js";

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
    const reason =
      error.code === "forbidden"
        ? `your access token does not allow posting in #${room}`
        : error.code === "unauthorized"
          ? "your access token has expired or is not valid"
          : error.message;
    status.replaceChildren(el("span", "status-text", `Not sent: ${reason}. `), retry);
  }
}
