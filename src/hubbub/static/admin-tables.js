// The operations page's tables: every node, the busiest rooms, each node's limits.
// Each panel is { element, render(view) }: admin.js appends it and calls render once a
// second with the page's view, so another panel (active mutes, say) is one more entry.

import { formatNumber } from "./admin-plot.js";

function el(name, className, text) {
  const node = document.createElement(name);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Bytes for people: 512 KiB, 1.4 GiB. */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/**
 * A card holding a table whose cells carry their column's name (data-label), so that on a
 * phone each row becomes a block of labelled values instead of a table wider than the screen.
 * columns: [{ label, value(row) -> string | Node, numeric }]
 */
export class TablePanel {
  constructor({ id, title, caption, columns, empty }) {
    this.columns = columns;
    this.empty = empty;
    this.element = el("section", "table-card");
    this.element.id = id;
    const heading = el("h2", "ops-heading", title);
    heading.id = `${id}-heading`;
    this.element.setAttribute("aria-labelledby", heading.id);
    this.table = el("table", "ops-table");
    if (caption) this.table.append(el("caption", "visually-hidden", caption));
    const head = el("tr");
    for (const column of columns) {
      const th = el("th", column.numeric ? "num" : "", column.label);
      th.scope = "col";
      head.append(th);
    }
    const thead = el("thead");
    thead.append(head);
    this.body = el("tbody");
    this.table.append(thead, this.body);
    this.element.append(heading, this.table);
  }

  rows(view) {
    return [];
  }

  render(view) {
    const rows = this.rows(view);
    this.body.replaceChildren();
    if (!rows.length) {
      const td = el("td", "empty", this.empty);
      td.colSpan = this.columns.length;
      const tr = el("tr");
      tr.append(td);
      this.body.append(tr);
      return;
    }
    for (const row of rows) {
      const tr = el("tr");
      for (const column of this.columns) {
        const td = el("td", column.numeric ? "num" : "");
        td.dataset.label = column.label;
        const value = column.value(row);
        if (value instanceof Node) td.append(value);
        else td.textContent = value;
        tr.append(td);
      }
      this.body.append(tr);
    }
  }
}

function nodeName(node) {
  const wrap = el("span", "node-name");
  wrap.append(el("span", `node-dot ${node.live ? "live" : "silent"}`));
  wrap.append(el("span", "", node.node));
  if (node.local) wrap.append(el("span", "tag", "this one"));
  if (!node.live) wrap.append(el("span", "tag warn", "silent"));
  return wrap;
}

export class NodesPanel extends TablePanel {
  constructor() {
    super({
      id: "nodes",
      title: "Nodes",
      caption: "Every node or worker serving this server, with its newest second",
      empty: "No node has reported yet.",
      columns: [
        { label: "Node", value: nodeName },
        { label: "Connections", numeric: true, value: (n) => formatNumber(n.point.connections.tcp) },
        { label: "Messages/s", numeric: true, value: (n) => formatNumber(n.point.messages) },
        { label: "Deliveries/s", numeric: true, value: (n) => formatNumber(n.point.deliveries) },
        { label: "p99 ms", numeric: true, value: (n) => formatNumber(n.point.p99_ms) },
        { label: "Stall ms", numeric: true, value: (n) => formatNumber(n.point.stall_ms) },
      ],
    });
  }

  rows(view) {
    return view.latest ? view.latest.nodes : [];
  }
}

export class RoomsPanel extends TablePanel {
  constructor() {
    super({
      id: "rooms",
      title: "Busiest rooms",
      caption: "The busiest rooms of the whole server, by messages per second then subscribers",
      empty: "No room has messages or subscribers right now.",
      columns: [
        { label: "Room", value: (r) => `#${r.room}` },
        { label: "Messages/s", numeric: true, value: (r) => formatNumber(r.messages) },
        { label: "Subscribers", numeric: true, value: (r) => formatNumber(r.subscribers) },
        { label: "Present", numeric: true, value: (r) => formatNumber(r.present) },
      ],
    });
  }

  rows(view) {
    return view.latest ? view.latest.rooms : [];
  }
}

const LIMIT_NAMES = {
  connections: "Connections",
  files: "File descriptors",
  rooms: "Rooms",
  memory: "Memory",
};

function amount(limit, value) {
  if (value === null || value === undefined) return "no limit";
  return limit.limit === "memory" ? formatBytes(value) : formatNumber(value);
}

function gauge(limit) {
  const wrap = el("span", "gauge");
  if (limit.fraction === null) {
    wrap.append(el("span", "gauge-text", "–"));
    return wrap;
  }
  const percent = Math.min(100, limit.fraction * 100);
  const bar = el("span", "gauge-bar");
  const fill = el("span", `gauge-fill ${percent >= 90 ? "danger" : percent >= 70 ? "warn" : ""}`);
  fill.style.width = `${percent}%`; // CSSOM, allowed by the page's style-src 'self'
  bar.append(fill);
  bar.setAttribute("role", "meter");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", percent.toFixed(1));
  bar.setAttribute("aria-label", `${LIMIT_NAMES[limit.limit] ?? limit.limit} used`);
  wrap.append(bar, el("span", "gauge-text", `${percent < 1 ? percent.toFixed(2) : percent.toFixed(0)}%`));
  return wrap;
}

export class LimitsPanel extends TablePanel {
  constructor() {
    super({
      id: "limits",
      title: "Limits",
      caption: "How close each node is to each of its limits",
      empty: "No node has reported its limits yet.",
      columns: [
        { label: "Node", value: (l) => l.node },
        { label: "Limit", value: (l) => LIMIT_NAMES[l.limit] ?? l.limit },
        { label: "Used", numeric: true, value: (l) => amount(l, l.used) },
        { label: "Of", numeric: true, value: (l) => amount(l, l.of) },
        { label: "How close", value: gauge },
      ],
    });
  }

  rows(view) {
    if (!view.latest) return [];
    return view.latest.nodes.flatMap((node) => node.limits.map((l) => ({ ...l, node: node.node })));
  }
}
