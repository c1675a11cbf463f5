"""The deployer's part of an application's status — phase, replica counts, observedGeneration, selector and the
`Ready` condition — as a pure function of what it observed. Pure.

Phase, by precedence: Failed (precheck failed, or the model failed to load) > Checking (the planner has not
judged this generation yet) > Loading (the model is not ready) > Creating (no replica group fully ready) >
Running. `Ready` is True only when the LeaderWorkerSet reports at least one group with every pod Ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from arks_common.api.application import ConditionType, Phase
from arks_common.api.meta import ConditionStatus
from arks_common.api.reasons import LOADED_FAILURES, READY_MESSAGE, LoadedReason
from arks_common.events.payloads import PlanReady
from arks_common.kube.resources import LABEL_APPLICATION, LABEL_ROLE


class ReadyReason(StrEnum):
    RUNNING = "Running"
    CREATING = "Creating"
    NOT_READY = "ReplicasNotReady"
    SCALED_TO_ZERO = "ScaledToZero"
    PRECHECK_FAILED = "PrecheckFailed"
    WAITING_FOR_MODEL = "WaitingForModel"
    WAITING_FOR_PLAN = "WaitingForPlan"
    APPLY_FAILED = "ApplyFailed"


@dataclass(frozen=True)
class Observed:
    """What the deployer knows about one application at one moment."""

    generation: int
    loaded_status: str | None  # the Loaded condition's status, None when absent
    loaded_reason: str
    loaded_message: str
    plan: PlanReady | None  # the newest plan for this application, if it is for this object (uid)
    lws: dict[str, Any] | None
    apply_error: str | None = None  # the API server refused the plan's objects; its message


@dataclass(frozen=True)
class DeployerStatus:
    phase: Phase
    replicas: int
    ready_replicas: int
    updated_replicas: int
    observed_generation: int
    selector: str
    ready: bool
    ready_reason: ReadyReason
    ready_message: str

    def to_k8s(self) -> dict[str, Any]:
        """The status fields the deployer owns, except the Ready condition (added with its transition time)."""
        return {
            "phase": self.phase.value,
            "replicas": self.replicas,
            "readyReplicas": self.ready_replicas,
            "updatedReplicas": self.updated_replicas,
            "observedGeneration": self.observed_generation,
            "selector": self.selector,
        }


def selector_for(name: str) -> str:
    """The pods the scale subresource counts: one leader per replica group."""
    return f"{LABEL_APPLICATION}={name},{LABEL_ROLE}=leader"


def lws_counts(lws: dict[str, Any] | None) -> tuple[int, int, int]:
    status = (lws or {}).get("status") or {}
    return int(status.get("replicas", 0)), int(status.get("readyReplicas", 0)), int(status.get("updatedReplicas", 0))


def plan_is_current(obs: Observed) -> bool:
    return obs.plan is not None and obs.plan.generation >= obs.generation


def compute(name: str, obs: Observed) -> DeployerStatus:
    replicas, ready, updated = lws_counts(obs.lws)
    desired = int(((obs.lws or {}).get("spec") or {}).get("replicas", 0)) if obs.lws else 0
    is_ready = ready >= 1
    observed_generation = obs.plan.generation if obs.plan is not None else 0
    serving = f"{ready} of {desired} replica groups ready"

    if obs.plan is not None and plan_is_current(obs) and not obs.plan.precheck.passed:
        phase, reason = Phase.FAILED, ReadyReason.PRECHECK_FAILED
        message = f"The application did not pass the pre-checking: {obs.plan.precheck.message}"
        if is_ready:  # a bad edit does not take a running service down; say both truths
            reason = ReadyReason.RUNNING
            message = f"{READY_MESSAGE} on the previous generation ({serving}); {message}"
    elif obs.apply_error is not None:
        phase, reason = Phase.FAILED, ReadyReason.APPLY_FAILED
        message = f"The cluster refused the application's objects: {obs.apply_error}"
    elif not plan_is_current(obs):
        phase, reason = Phase.CHECKING, ReadyReason.WAITING_FOR_PLAN
        message = f"Waiting for the planner to check generation {obs.generation}"
    elif obs.loaded_status != ConditionStatus.TRUE.value and obs.lws is None:
        failed = obs.loaded_reason in {r.value for r in LOADED_FAILURES}
        phase = Phase.FAILED if failed else Phase.LOADING
        reason = ReadyReason.WAITING_FOR_MODEL
        message = f"Waiting for the model: {obs.loaded_message or LoadedReason.LOADING.value}"
    elif is_ready:
        phase, reason, message = Phase.RUNNING, ReadyReason.RUNNING, READY_MESSAGE
    elif obs.lws is not None and desired == 0:
        phase, reason, message = Phase.RUNNING, ReadyReason.SCALED_TO_ZERO, "Scaled to zero replica groups"
    elif obs.lws is None or replicas == 0:
        phase, reason = Phase.CREATING, ReadyReason.CREATING
        message = "Creating the LeaderWorkerSet; no replica group is ready yet"
    else:
        phase, reason = Phase.CREATING, ReadyReason.NOT_READY
        message = f"Waiting for a replica group with every pod Ready: {serving}"
    return DeployerStatus(
        phase=phase,
        replicas=replicas,
        ready_replicas=ready,
        updated_replicas=updated,
        observed_generation=observed_generation,
        selector=selector_for(name),
        ready=reason is ReadyReason.RUNNING,
        ready_reason=reason,
        ready_message=message,
    )


READY = ConditionType.READY.value
