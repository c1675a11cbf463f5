"""Whether a Warning that a reconcile finds again is recorded again. A model held by a situation that no write
changes (`ModelInUse`: its deletion waits for its users; `ModelUnreadable`) is looked at every scheduled round
and on every event of its namespace's applications; recording the same Warning each time only bumps the Event's
count (`x288 over 24h`) and wakes every Event watcher with nothing new. It is recorded again when its message
changed (another set of users: news), or when the last record is old enough that the Event could soon expire
(the API server keeps an Event one hour after its last write by default, `--event-ttl`), so `kubectl describe`
keeps explaining a model that still waits. Pure: the caller keeps the memory and the clock."""

from __future__ import annotations

from dataclasses import dataclass

RETELL_SECONDS = 1800.0
"""Half the API server's default Event lifetime (`--event-ttl`, 1 h): the Warning stays on view while it holds."""


@dataclass(frozen=True)
class Told:
    message: str
    at: float
    """When it was recorded (a monotonic clock, seconds)."""


def worth_telling(last: Told | None, message: str, now: float, every: float = RETELL_SECONDS) -> bool:
    """Whether a Warning with `message` is recorded now, given what was last recorded for the same object and
    reason (None: never, or not by this replica since it started)."""
    return last is None or last.message != message or now - last.at >= every
