// A line plot drawn as SVG: no library, no markup strings (the page's CSP allows neither).
// The plot stretches to its box; lines keep their width (vector-effect: non-scaling-stroke).

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 1000;
const HEIGHT = 200;
const COLOURS = 6; // .series-0 ... .series-5 in admin.css

function el(name, className, text) {
  const node = document.createElement(name);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

/** 1, 2, 5, 10, 20, 50... the smallest at or above value (at least `floor`). */
export function niceCeiling(value, floor = 1) {
  const target = Math.max(value, floor);
  const power = 10 ** Math.floor(Math.log10(target));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= target) return step * power;
  }
  return 10 * power;
}

/** A number for people: 0.42, 7.5, 312, 4.2k, 1.3M. */
export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const size = Math.abs(value);
  if (size >= 1e6) return `${(value / 1e6).toFixed(size >= 1e7 ? 0 : 1)}M`;
  if (size >= 1e4) return `${(value / 1e3).toFixed(size >= 1e5 ? 0 : 1)}k`;
  if (size >= 100 || Number.isInteger(value)) return String(Math.round(value));
  if (size >= 10) return value.toFixed(1);
  return value.toFixed(2).replace(/\.?0+$/, "") || "0";
}

/**
 * One card: a title, the newest value of each series, and their lines over the window.
 * options: { id, title, unit, series: [{ key, label, get(point) }] } or, for series that
 * come and go (refusals by code), seriesOf(points) returning that list.
 */
export class LinePlot {
  constructor(options) {
    this.options = options;
    this.element = el("article", "plot-card");
    this.element.id = `plot-${options.id}`;
    const head = el("header", "plot-head");
    head.append(el("h3", "plot-title", options.title));
    if (options.unit) head.append(el("span", "plot-unit", options.unit));
    this.area = el("div", "plot-area");
    this.svg = svg("svg", {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      preserveAspectRatio: "none",
      role: "img",
      class: "plot-svg",
    });
    for (const y of [0.25, 0.5, 0.75]) {
      this.svg.append(svg("line", { x1: 0, x2: WIDTH, y1: HEIGHT * y, y2: HEIGHT * y, class: "grid" }));
    }
    this.svg.append(svg("line", { x1: 0, x2: WIDTH, y1: HEIGHT, y2: HEIGHT, class: "axis" }));
    this.lines = svg("g", { class: "lines" });
    this.svg.append(this.lines);
    this.top = el("span", "plot-max");
    this.area.append(this.svg, this.top, el("span", "plot-zero", "0"));
    this.legend = el("ul", "legend");
    const time = el("div", "plot-time");
    this.since = el("span", "", "");
    time.append(this.since, el("span", "", "now"));
    this.element.append(head, this.legend, this.area, time);
  }

  series(points) {
    return this.options.seriesOf ? this.options.seriesOf(points) : this.options.series;
  }

  /** Draw `points` ({t, ...}) of the last `windowSeconds` before `now` (a Unix second). */
  render(points, windowSeconds, now) {
    const from = now - windowSeconds;
    const shown = points.filter((p) => p.t > from);
    const series = this.series(shown);
    let highest = 0;
    for (const s of series) {
      for (const p of shown) highest = Math.max(highest, s.get(p) ?? 0);
    }
    const top = niceCeiling(highest, this.options.floor ?? 1);
    this.top.textContent = formatNumber(top);
    this.since.textContent = windowSeconds >= 120 ? `−${windowSeconds / 60} min` : `−${windowSeconds} s`;

    this.lines.replaceChildren();
    this.legend.replaceChildren();
    const described = [];
    series.forEach((s, index) => {
      let d = "";
      let previous = null;
      for (const p of shown) {
        const value = s.get(p);
        if (value === null || value === undefined) {
          previous = null;
          continue;
        }
        const x = ((p.t - from) / windowSeconds) * WIDTH;
        const y = HEIGHT - (value / top) * HEIGHT * 0.95;
        // A missing second (a node silent, the page reconnecting) breaks the line.
        d += `${previous !== null && p.t - previous <= 2 ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`;
        previous = p.t;
      }
      const colour = `series-${index % COLOURS}`;
      if (d) this.lines.append(svg("path", { d, class: `line ${colour}` }));
      const last = shown.length ? s.get(shown[shown.length - 1]) : null;
      const item = el("li", "legend-item");
      item.append(el("span", `swatch ${colour}`), el("span", "legend-label", s.label));
      const value = el("strong", "legend-value", formatNumber(last));
      value.dataset.series = s.key;
      item.append(value);
      this.legend.append(item);
      described.push(`${s.label} ${formatNumber(last)}`);
    });
    if (!series.length) this.legend.append(el("li", "legend-none", this.options.empty ?? "none"));
    this.svg.setAttribute(
      "aria-label",
      `${this.options.title}${this.options.unit ? ` (${this.options.unit})` : ""}: ${described.join(", ") || "none"}`,
    );
  }
}
