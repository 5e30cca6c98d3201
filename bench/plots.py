"""PNG plots for docs/benchmarks.md: deliveries/s and p99 latency against subscribers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt

Run = dict[str, Any]

# One colour per server, hubbub first and strongest.
_STYLE = {
    "hubbub": ("#d62728", 2.6),
    "nchan": ("#1f77b4", 1.6),
    "uws": ("#2ca02c", 1.6),
    "node-ws": ("#9467bd", 1.6),
    "socketio": ("#8c564b", 1.6),
    "py-websockets": ("#ff7f0e", 1.6),
    "py-socketio": ("#7f7f7f", 1.6),
}


def _points(
    runs: list[Run], pick: Any, value: Any
) -> dict[tuple[str, str], list[tuple[int, float]]]:
    lines: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for run in runs:
        spec = run.get("spec", {})
        if "failure" in run or "skipped" in run or not pick(spec):
            continue
        v = value(run)
        if v is None or v != v:  # missing or NaN
            continue
        lines.setdefault((spec["server"], spec["transport"]), []).append((spec["subscribers"], v))
    # Several runs at one size (rates): keep the highest value, one point per size.
    best: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for key, pts in lines.items():
        top: dict[int, float] = {}
        for n, v in pts:
            top[n] = max(v, top.get(n, v))
        best[key] = sorted(top.items())
    return best


def _draw(
    lines: dict[tuple[str, str], list[tuple[int, float]]],
    labels: dict[str, str],
    title: str,
    ylabel: str,
    out: Path,
) -> None:
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for (server, transport), pts in sorted(lines.items()):
        colour, width = _STYLE.get(server, ("#000000", 1.2))
        style = {"ws": "-", "sse": "--", "longpoll": ":"}.get(transport, "-.")
        xs, ys = zip(*pts, strict=True)
        ax.plot(
            xs,
            ys,
            style,
            color=colour,
            linewidth=width,
            marker="o",
            label=f"{labels.get(server, server)} ({transport.upper()})",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers in one room")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if lines:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no runs measured", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def draw_all(runs: list[Run], labels: dict[str, str], out_dir: Path) -> list[str]:
    """Writes the plots; returns their file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # The most any fan-out run delivered at each size (the flood, where there is one).
    most = _points(
        runs,
        lambda s: s.get("scenario") == "fanout" and s.get("transport") in ("ws", "sse"),
        lambda r: r.get("deliveries_per_s"),
    )
    _draw(
        most,
        labels,
        "Highest deliveries/s measured, one room (server on one core)",
        "deliveries per second",
        out_dir / "deliveries.png",
    )
    # The same delivery load at both sizes: 100 msg/s to 1,000 and 10 msg/s to 10,000.
    fixed = _points(
        runs,
        lambda s: (
            s.get("scenario") == "fanout"
            and s.get("mode") == "paced"
            and s.get("transport") in ("ws", "sse")
            and s.get("rate", 0) * s.get("subscribers", 0) == 100_000
        ),
        lambda r: r.get("latency", {}).get("p99_ms"),
    )
    _draw(
        fixed,
        labels,
        "p99 publish-to-receive latency at 100,000 deliveries/s",
        "p99 latency (ms)",
        out_dir / "p99.png",
    )
    return ["deliveries.png", "p99.png"]
