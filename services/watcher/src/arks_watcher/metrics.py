"""The watcher's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter

WATCH_EVENTS = Counter("arks_watcher_events_total", "Change events published, by kind and type.", ["kind", "type"])
WATCH_RESTARTS = Counter(
    "arks_watcher_watch_restarts_total",
    "Watches restarted, by kind and cause (timeout, short, error, expired, resync).",
    ["kind", "cause"],
)
