"""Pure helpers for status conditions: set one, keeping its transition time when its status holds."""

from __future__ import annotations

from datetime import datetime

from arks_common.api.meta import Condition, ConditionStatus


def set_condition(conditions: list[Condition], new: Condition, now: datetime) -> tuple[list[Condition], bool]:
    """The list with `new` in place of its type, and whether anything a reader sees changed.

    lastTransitionTime moves only when the status flips, as metav1.Condition demands.
    """
    old = next((c for c in conditions if c.type == new.type), None)
    transition = now if old is None or old.status != new.status else (old.last_transition_time or now)
    updated = new.model_copy(update={"last_transition_time": transition})
    changed = old is None or (
        old.status,
        old.reason,
        old.message,
        old.observed_generation,
    ) != (updated.status, updated.reason, updated.message, updated.observed_generation)
    out = [updated if c.type == new.type else c for c in conditions]
    if old is None:
        out.append(updated)
    return out, changed


MESSAGE_LIMIT = 1000
"""Characters a condition message holds at most, the ellipsis included: it quotes what users and the API server
wrote (a refusal can quote a whole object), and a status is no place for a whole body; the start names the field."""


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """At most `limit` characters of `text`: itself when it fits, else its start and `…`."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def condition(type_: str, ok: bool | None, reason: str, message: str, generation: int) -> Condition:
    """A condition from a tri-state: True, False, or None for Unknown."""
    status = ConditionStatus.UNKNOWN if ok is None else (ConditionStatus.TRUE if ok else ConditionStatus.FALSE)
    return Condition(type=type_, status=status, reason=reason, message=message, observed_generation=generation)


def condition_dict(cond: Condition) -> dict[str, object]:
    """The condition as the API stores it (RFC 3339 second precision, as metav1.Time)."""
    out = cond.to_k8s()
    if cond.last_transition_time is not None:
        out["lastTransitionTime"] = cond.last_transition_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def is_news(old: list[Condition], new: Condition) -> bool:
    """Whether `new` tells a reader something new (status or reason), worth an Event; a mere new
    observedGeneration is not."""
    before = next((c for c in old if c.type == new.type), None)
    return before is None or (before.status, before.reason) != (new.status, new.reason)
