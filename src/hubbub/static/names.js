// Names and avatars: who this browser is, the name dialog, and each user's avatar.

import { STORAGE, state, storageSet, tokenName, ui } from "./page-state.js";

export function avatarClass(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `avatar tone-${hash % 8}`;
}

export function initials(name) {
  const letters = [...name.trim()];
  return (letters[0] ?? "?").toUpperCase();
}

export function showMe() {
  // With a token the server decides who you are: no name to change.
  ui.changeName.hidden = tokenName !== null;
  ui.meName.textContent = state.name ?? "";
  ui.meAvatar.className = avatarClass(state.name ?? "?");
  ui.meAvatar.textContent = initials(state.name ?? "?");
}

export function askName() {
  if (tokenName !== null) return;
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
  const renamed = name !== state.name;
  state.name = name;
  storageSet(STORAGE.name, name);
  // The open room's connection is present under the name: chat.js reconnects it.
  if (renamed) document.dispatchEvent(new CustomEvent("hubbub:name"));
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
