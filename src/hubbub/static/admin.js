// The operations page: live plots and tables of the whole server, from one admin stream.
//
// Layout of this script, for whoever adds to it:
//   token       - the admin token from /admin#token=..., kept for this tab
//   view        - what the stream has told so far: each series' points, the newest update
//   PLOTS       - the plot cards, each a LinePlot over view's points
//   panels      - the table cards (admin-tables.js): { element, render(view) }; add one
//                 with addPanel() to show something more (admin-moderation.js does)
//   openStream  - (admin-stream.js) history, then an update a second; refusals end it

import { LinePlot } from "./admin-plot.js";
import { openStream } from "./admin-stream.js";
import { ModerationPanel } from "./admin-moderation.js";
import { LimitsPanel, NodesPanel, RoomsPanel } from "./admin-tables.js";
import { pageToken } from "./page-token.js";

const TOKEN_KEY = "hubbub.admin-token"; // in sessionStorage: this tab only
const HISTORY = 900; // seconds kept, as the server keeps them

const $ = (id) => document.getElementById(id);

const token = pageToken(TOKEN_KEY);

export const view = {
  whole: [], // the whole server's points, oldest first
  nodes: new Map(), // node name -> its points
  latest: null, // the newest update
  node: "", // "" for the whole server, else the node shown
  windowSeconds: 300,
};

const TRANSPORT_LABELS = [
  ["ws", "WebSocket"],
  ["ws-multi", "WS multiplexed"],
  ["sse", "SSE"],
  ["longpoll", "Long poll"],
  ["tcp", "TCP"],
];

const PLOTS = [
  new LinePlot({
    id: "connections",
    title: "Connections",
    series: TRANSPORT_LABELS.map(([key, label]) => ({ key, label, get: (p) => p.connections[key] })),
  }),
  new LinePlot({
    id: "messages",
    title: "Messages",
    unit: "per second",
    series: [{ key: "messages", label: "Committed", get: (p) => p.messages }],
  }),
  new LinePlot({
    id: "deliveries",
    title: "Deliveries",
    unit: "per second",
    series: [{ key: "deliveries", label: "To live streams", get: (p) => p.deliveries }],
  }),
  new LinePlot({
    id: "latency",
    title: "Publish to delivery",
    unit: "ms",
    floor: 0.1,
    series: [
      { key: "p50", label: "p50", get: (p) => p.p50_ms },
      { key: "p99", label: "p99", get: (p) => p.p99_ms },
    ],
  }),
  new LinePlot({
    id: "commit",
    title: "Commit time",
    unit: "ms per transaction",
    floor: 0.1,
    series: [{ key: "commit", label: "Mean", get: (p) => p.commit_ms }],
  }),
  new LinePlot({
    id: "batch",
    title: "Batch size",
    unit: "publishes per commit",
    series: [{ key: "batch", label: "Mean", get: (p) => p.batch }],
  }),
  new LinePlot({
    id: "slow",
    title: "Slow consumers dropped",
    unit: "per second",
    series: [{ key: "slow", label: "Dropped", get: (p) => p.slow_consumers }],
  }),
  new LinePlot({
    id: "refusals",
    title: "Refusals",
    unit: "per second, by reason",
    empty: "none in this window",
    seriesOf: (points) => {
      const codes = new Set();
      for (const p of points) for (const code of Object.keys(p.refused)) codes.add(code);
      return [...codes].sort().map((code) => ({ key: code, label: code, get: (p) => p.refused[code] ?? 0 }));
    },
  }),
  new LinePlot({
    id: "stall",
    title: "Event-loop stall",
    unit: "ms, longest per second",
    series: [
      { key: "stall", label: "Longest stall", get: (p) => p.stall_ms },
      { key: "gc", label: "Garbage collection", get: (p) => p.gc_ms },
    ],
  }),
];

const panels = [];

/** Show one more table card, rendered once a second with `view`. */
export function addPanel(panel) {
  panels.push(panel);
  $("tables").append(panel.element);
  if (view.latest) panel.render(view);
}

function keep(points, point) {
  points.push(point);
  if (points.length > HISTORY) points.splice(0, points.length - HISTORY);
}

function shownPoints() {
  return view.node ? view.nodes.get(view.node) ?? [] : view.whole;
}

function render() {
  const now = view.latest ? view.latest.t : Math.floor(Date.now() / 1000);
  const points = shownPoints();
  for (const plot of PLOTS) plot.render(points, view.windowSeconds, now);
  for (const panel of panels) panel.render(view);
  $("scope").textContent = view.node ? `node ${view.node}` : "whole server";
}

function updateNodeChoices() {
  const select = $("node-select");
  const names = view.latest ? view.latest.nodes.map((n) => n.node) : [...view.nodes.keys()];
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join("\n") === names.join("\n")) return;
  select.replaceChildren(select.options[0]);
  for (const name of names) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    select.append(option);
  }
  select.value = names.includes(view.node) ? view.node : "";
  view.node = select.value;
}

function setState(state, retryMs) {
  const box = $("connection");
  box.dataset.state = state;
  $("connection-text").textContent = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: retryMs ? `Reconnecting in ${Math.round(retryMs / 1000)} s…` : "Reconnecting…",
    refused: "Not allowed",
  }[state];
}

function refused(status, message) {
  setState("refused");
  $("dashboard").hidden = true;
  $("controls").hidden = true;
  $("refusal").hidden = false;
  $("refusal-title").textContent = status === 401 ? "An admin token is needed" : "Not allowed";
  $("refusal-text").textContent = message || `The server refused this page's data (${status}).`;
  $("refusal-help").textContent = token
    ? "The token this tab holds is not an admin's. Open /admin#token=… with a token whose admin claim is true."
    : "Open /admin#token=… with a token whose admin claim is true; on a server without tokens, open the page from the server's own machine.";
}

function start() {
  for (const plot of PLOTS) $("plots").append(plot.element);
  addPanel(new NodesPanel());
  addPanel(new RoomsPanel());
  addPanel(new LimitsPanel());
  addPanel(new ModerationPanel(token));

  $("node-select").addEventListener("change", (event) => {
    view.node = event.target.value;
    render();
  });
  for (const button of $("window").querySelectorAll("button")) {
    button.addEventListener("click", () => {
      view.windowSeconds = Number(button.dataset.seconds);
      for (const other of $("window").querySelectorAll("button")) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      render();
    });
  }

  openStream(new URL("admin/stream", location.href), token, {
    onState: setState,
    onRefused: refused,
    onHistory(history) {
      view.whole = history.whole;
      view.nodes = new Map(Object.entries(history.nodes));
      $("refusal").hidden = true;
      $("dashboard").hidden = false;
      $("controls").hidden = false;
      updateNodeChoices();
      render();
    },
    onUpdate(update) {
      view.latest = update;
      keep(view.whole, update.whole);
      for (const node of update.nodes) {
        if (!view.nodes.has(node.node)) view.nodes.set(node.node, []);
        const points = view.nodes.get(node.node);
        if (!points.length || points[points.length - 1].t < node.point.t) keep(points, node.point);
      }
      updateNodeChoices();
      render();
    },
  });
}

start();
