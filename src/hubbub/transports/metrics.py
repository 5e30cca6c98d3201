"""``GET /metrics`` in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

from aiohttp import web

from hubbub.ops.recorder import Recorder
from hubbub.stats import Stats
from hubbub.transports.http import node_of


def render(stats: Stats, recorder: Recorder) -> str:
    lines = [
        "# HELP hubbub_connections Open subscriptions by transport.",
        "# TYPE hubbub_connections gauge",
    ]
    lines += [
        f'hubbub_connections{{transport="{kind}"}} {stats.streams.get(kind, 0)}'
        for kind in ("ws", "sse")
    ]
    lines.append(f'hubbub_connections{{transport="longpoll"}} {stats.waiting}')
    lines += [
        "# HELP hubbub_messages_published_total Messages committed.",
        "# TYPE hubbub_messages_published_total counter",
        f"hubbub_messages_published_total {stats.published}",
        "# HELP hubbub_messages_delivered_total Messages queued to live streams.",
        "# TYPE hubbub_messages_delivered_total counter",
        f"hubbub_messages_delivered_total {stats.delivered}",
        "# HELP hubbub_publish_seconds Time from accepting a publish to its commit.",
        "# TYPE hubbub_publish_seconds summary",
        f"hubbub_publish_seconds_count {stats.publish_count}",
        f"hubbub_publish_seconds_sum {stats.publish_seconds:.6f}",
        "# HELP hubbub_commits_total Store transactions that committed publishes (group"
        " commit: hubbub_publish_seconds_count / this is the mean batch).",
        "# TYPE hubbub_commits_total counter",
        f"hubbub_commits_total {stats.commits}",
        "# HELP hubbub_slow_consumers_dropped_total Streams closed past the outbox limit.",
        "# TYPE hubbub_slow_consumers_dropped_total counter",
        f"hubbub_slow_consumers_dropped_total {stats.slow_consumers_dropped}",
        "# HELP hubbub_rejected_total Refused requests and frames by error code.",
        "# TYPE hubbub_rejected_total counter",
    ]
    lines += [
        f'hubbub_rejected_total{{code="{code}"}} {count}'
        for code, count in sorted(stats.rejected.items())
    ]
    lines += [
        "# HELP hubbub_connections_open TCP connections open (admitted under the caps).",
        "# TYPE hubbub_connections_open gauge",
        f"hubbub_connections_open {stats.connections_open}",
        "# HELP hubbub_connections_refused_total Connections refused over a cap, by reason.",
        "# TYPE hubbub_connections_refused_total counter",
    ]
    lines += [
        f'hubbub_connections_refused_total{{reason="{reason}"}} '
        f"{stats.connections_refused.get(reason, 0)}"
        for reason in ("max_connections", "max_connections_per_ip", "file_limit")
    ]
    lines += [
        "# HELP hubbub_event_loop_stall_seconds The longest event-loop stall of the last"
        " minute (how late a 50 ms timer fired).",
        "# TYPE hubbub_event_loop_stall_seconds gauge",
        f"hubbub_event_loop_stall_seconds {recorder.longest_stall():.6f}",
        "# HELP hubbub_gc_seconds_total Time spent in garbage collection (gc.callbacks).",
        "# TYPE hubbub_gc_seconds_total counter",
        f"hubbub_gc_seconds_total {recorder.gc.seconds:.6f}",
        "# HELP hubbub_gc_collections_total Garbage collections.",
        "# TYPE hubbub_gc_collections_total counter",
        f"hubbub_gc_collections_total {recorder.gc.collections}",
    ]
    return "\n".join(lines) + "\n"


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        text=render(node_of(request).stats, node_of(request).recorder),
        content_type="text/plain",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )
