// Editing and deleting one's own messages: an "Edit" and a "Delete" button on each
// confirmed message of this person, shown while it is hovered or focused (plain
// buttons: reachable with Tab, pressed with Enter or Space; a tap focuses the message). The correction is published with client.correct(); the message
// changes when the correction comes back on the live stream, like everyone else sees it.

import { client, el, state } from "./page-state.js";

// How long "Delete" waits for the second press that confirms it.
const CONFIRM_MS = 4000;

/** Add the buttons to `item` when it is a confirmed message of this person. */
export function addActions(item) {
  if (!item.classList.contains("mine") || !item.dataset.id || item.querySelector(".actions")) return;
  const target = Number(item.dataset.id);
  const actions = el("div", "actions");
  const edit = el("button", "action edit", "Edit");
  const remove = el("button", "action delete", "Delete");
  for (const button of [edit, remove]) button.type = "button";
  edit.setAttribute("aria-label", "Edit this message");
  remove.setAttribute("aria-label", "Delete this message");
  edit.addEventListener("click", () => startEdit(item, target));
  remove.addEventListener("click", () => askDelete(target, remove));
  actions.append(edit, remove);
  item.querySelector(".bubble").append(actions);
  // Shown on hover or focus (chat.css): a tap on a phone focuses the message.
  item.tabIndex = -1;
}

/** A deleted message has nothing left to correct. */
export function removeActions(item) {
  item.querySelector(".actions")?.remove();
  item.querySelector(".edit-form")?.remove();
}

function startEdit(item, target) {
  if (item.querySelector(".edit-form")) return;
  const text = item.querySelector(".text");
  const form = el("form", "edit-form");
  const box = el("textarea", "edit-box");
  box.value = text.textContent;
  box.setAttribute("aria-label", "New text of the message");
  const save = el("button", "action save", "Save");
  const cancel = el("button", "action cancel", "Cancel");
  save.type = "submit";
  cancel.type = "button";
  form.append(box, save, cancel);
  text.hidden = true;
  text.after(form);
  box.focus();
  const close = () => {
    form.remove();
    text.hidden = false;
    item.querySelector(".action.edit")?.focus();
  };
  cancel.addEventListener("click", close);
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = box.value;
    if (!value.trim() || value === text.textContent) {
      close();
      return;
    }
    save.disabled = true;
    try {
      await client.correct(state.room, { user: state.name, target, text: value });
      close();
    } catch (error) {
      save.disabled = false;
      save.title = `Not saved: ${error.message}`;
      save.textContent = "Retry";
    }
  });
}

/** Delete message `target` on the second press of `button` within CONFIRM_MS (the
 * first asks "Really delete?"): the author's Delete and a moderator's share it. */
export function askDelete(target, button) {
  if (button.dataset.confirm !== "1") {
    button.dataset.confirm = "1";
    button.textContent = "Really delete?";
    setTimeout(() => {
      button.dataset.confirm = "";
      button.textContent = "Delete";
    }, CONFIRM_MS);
    return;
  }
  button.disabled = true;
  client.correct(state.room, { user: state.name, target }).catch((error) => {
    button.disabled = false;
    button.title = `Not deleted: ${error.message}`;
  });
}
