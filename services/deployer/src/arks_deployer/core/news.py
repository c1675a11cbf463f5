"""Which of the deployer's steps become Kubernetes Events on the application, and their words. Pure.

One Event per step, not per object: the objects one reconcile created (or updated, or scaled, or deleted) are
named in one Event. A phase change is an Event when it is news a user looks for — the service started serving
(Running), failed, stopped serving, or cannot apply its objects; the phases an application passes on its way up
(Checking, Loading, Creating) are already told by the planner's Precheck Event, the model-loader's Loaded Event
and the deployer's own Created Event, so they are not told twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from arks_common.api.application import Phase
from arks_deployer.core.status import DeployerStatus, ReadyReason

NEWS_PHASES = frozenset({Phase.RUNNING.value, Phase.FAILED.value})
PROBLEMS = frozenset({ReadyReason.APPLY_FORBIDDEN, ReadyReason.APPLY_RETRYING, ReadyReason.APPLY_REFUSED})


@dataclass(frozen=True)
class Step:
    """One object a reconcile changed: `verb` (Created, Updated, Scaled, Deleted), `what` (kind and name) and
    what to add after it (`to 3 replica groups`), if anything."""

    verb: str
    what: str
    detail: str = ""


def step_events(steps: list[Step], suffix: dict[str, str]) -> list[tuple[str, str]]:
    """(reason, message) of the Events for `steps`: one per verb, in the order the verbs first occur, naming
    every object; `suffix[verb]` ends that verb's message (the plan hash, or why objects were deleted)."""
    by_verb: dict[str, list[str]] = {}
    for step in steps:
        by_verb.setdefault(step.verb, []).append(f"{step.what} {step.detail}".rstrip())
    return [(verb, f"{verb} {', '.join(items)}{suffix.get(verb, '')}") for verb, items in by_verb.items()]


def phase_is_news(old_phase: str | None, new: DeployerStatus) -> bool:
    """Whether the phase change from `old_phase` to `new.phase` deserves an Event (see the module's words)."""
    if old_phase == new.phase.value:
        return False
    return new.phase.value in NEWS_PHASES or old_phase in NEWS_PHASES or new.ready_reason in PROBLEMS
