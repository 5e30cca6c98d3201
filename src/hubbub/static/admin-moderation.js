// The operations page's moderation card: every room's active mutes (GET /admin/mutes,
// read when the page opens, every 5 seconds and right after a disconnect) and a form to
// disconnect a user (POST /admin/users/{user}/disconnect). Text nodes only: the page's
// CSP enforces Trusted Types.

import { TablePanel } from "./admin-tables.js";

const REFRESH_MS = 5000;

function el(name, className, text) {
  const node = document.createElement(name);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Seconds for people: 45 s, 9 min 5 s, 3 h 20 min, 2 d 4 h. */
export function formatLeft(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
  return `${Math.floor(s / 86400)} d${s % 86400 >= 3600 ? ` ${Math.floor((s % 86400) / 3600)} h` : ""}`;
}

/** The refusal's own message from a JSON error body, else the status. */
async function refusalOf(response) {
  try {
    return (await response.json()).error.message;
  } catch {
    return `the server answered ${response.status}`;
  }
}

export class ModerationPanel extends TablePanel {
  constructor(token) {
    super({
      id: "moderation",
      title: "Moderation",
      caption: "Every room's active mutes, by room then user",
      empty: "No active mutes",
      columns: [
        { label: "Room", value: (m) => `#${m.room}` },
        { label: "User", value: (m) => m.user },
        // Counted down from `until` between reads, so it moves every second.
        { label: "Time left", numeric: true, value: (m) => formatLeft((m.until - Date.now()) / 1000) },
        { label: "Reason", value: (m) => m.reason || "–" },
        { label: "By", value: (m) => m.by },
      ],
    });
    this.headers = token ? { Authorization: `Bearer ${token}` } : {};
    this.mutes = [];
    this.status = el("p", "moderation-status");
    this.status.setAttribute("role", "status");
    this.element.insertBefore(this.status, this.table);
    this.element.append(this.disconnectForm());
    this.timer = null;
    this.refresh();
  }

  rows() {
    return this.mutes.filter((m) => m.until > Date.now());
  }

  /** Read the mutes now, and again in 5 seconds (one timer, restarted by each read). */
  async refresh() {
    clearTimeout(this.timer);
    try {
      const response = await fetch(new URL("admin/mutes", location.href), {
        headers: this.headers,
        cache: "no-store",
      });
      if (response.ok) {
        this.mutes = (await response.json()).mutes;
        this.status.textContent = "";
      } else {
        this.status.textContent = `Mutes not read: ${await refusalOf(response)}`;
        // Asking again with the same token gets the same refusal (the page shows it).
        if (response.status === 401 || response.status === 403) return;
      }
    } catch {
      this.status.textContent = "Mutes not read: the server did not answer";
    }
    this.render();
    this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  disconnectForm() {
    const form = el("form", "disconnect-form");
    form.setAttribute("aria-labelledby", "disconnect-heading");
    const heading = el("h3", "ops-subheading", "Disconnect a user");
    heading.id = "disconnect-heading";
    const label = el("label", "", "User name");
    label.htmlFor = "disconnect-user";
    const input = el("input", "ops-input");
    input.id = "disconnect-user";
    input.name = "user";
    input.required = true;
    input.autocomplete = "off";
    input.spellcheck = false;
    const button = el("button", "ops-button", "Disconnect");
    button.type = "submit";
    const result = el("p", "disconnect-result");
    result.id = "disconnect-result";
    result.setAttribute("role", "status");
    const row = el("div", "disconnect-row");
    row.append(input, button);
    form.append(heading, label, row, result);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const user = input.value.trim();
      if (!user) return;
      button.disabled = true;
      result.dataset.state = "";
      result.textContent = `Disconnecting ${user}…`;
      try {
        const url = new URL(`admin/users/${encodeURIComponent(user)}/disconnect`, location.href);
        const response = await fetch(url, { method: "POST", headers: this.headers, cache: "no-store" });
        if (response.ok) {
          const answer = await response.json();
          const n = answer.closed_here;
          result.dataset.state = "done";
          result.textContent = `closed ${n} connection${n === 1 ? "" : "s"} of ${answer.user} on this node`;
        } else {
          result.dataset.state = "refused";
          result.textContent = await refusalOf(response);
        }
      } catch {
        result.dataset.state = "refused";
        result.textContent = "The server did not answer.";
      } finally {
        button.disabled = false;
      }
      this.refresh();
    });
    return form;
  }
}
