"""The deployer's part of an application's status — phase, replica counts (per role and in total),
observedGeneration, selector and the `Ready` condition — as a pure function of what it observed. Pure.

Ready tells whether the service serves: True when every role of the application (`serve`; or the router, prefill
and decode of PD-separated serving) has at least one replica group with every pod Ready (as its LeaderWorkerSet
reports), whatever else is going on. So groups that serve keep Ready=True and phase Running through scale changes
and spec edits; reason `Updating` shows that the cluster is still moving towards the newest spec (a new plan not
yet checked or applied, groups starting or going, an API error being retried), `Running` that it is there.

Phase, by precedence: Failed (the newest spec failed its checks, the cluster refused its objects for good, or
the model failed to load before anything ran) > Running (it serves) > Checking (the planner has not judged
this generation) > Loading (the model is not ready) > Creating (no group ready yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from arks_common.api.application import ConditionType, Phase
from arks_common.api.conditions import bounded
from arks_common.api.meta import ConditionStatus
from arks_common.api.reasons import LOADED_FAILURES, READY_MESSAGE, LoadedReason
from arks_common.conventions import PD_ROLES, leader_selector
from arks_common.events.payloads import PlanReady
from arks_common.kube.newest import kept
from arks_deployer.core.refusals import ApplyProblem


class ReadyReason(StrEnum):
    RUNNING = "Running"
    UPDATING = "Updating"
    CREATING = "Creating"
    NOT_READY = "ReplicasNotReady"
    SCALED_TO_ZERO = "ScaledToZero"
    PRECHECK_FAILED = "PrecheckFailed"
    WAITING_FOR_MODEL = "WaitingForModel"
    WAITING_FOR_PLAN = "WaitingForPlan"
    APPLY_REFUSED = "ApplyRefused"
    APPLY_FORBIDDEN = "ApplyForbidden"
    APPLY_RETRYING = "ApplyRetrying"


SERVING = frozenset({ReadyReason.RUNNING, ReadyReason.UPDATING})


@dataclass(frozen=True)
class RoleObserved:
    """One role: the groups the deployer wants, and its LeaderWorkerSet as it is (None when absent)."""

    name: str
    desired: int
    lws: dict[str, Any] | None
    on_plan: bool = True  # the live LeaderWorkerSet carries the newest plan's hash
    going: int = 0  # groups it counts ready whose pods are being deleted (`core.pods.going_ready_groups`)

    def counts(self) -> tuple[int, int, int]:
        """(replicas, readyReplicas, updatedReplicas) as the set reports them, less the ready groups being deleted."""
        status = (self.lws or {}).get("status") or {}
        return (
            int(status.get("replicas", 0)),
            max(0, int(status.get("readyReplicas", 0)) - self.going),
            int(status.get("updatedReplicas", 0)),
        )

    def seen_by_its_controller(self) -> bool:
        """Whether the set's status was written for its current spec (`status.observedGeneration`, LWS 0.7 on):
        just after a changed template is applied, the status is still the old template's, every group ready and
        "updated", until the LeaderWorkerSet controller looks. A set without the field is taken as it says."""
        lws = self.lws or {}
        generation = (lws.get("metadata") or {}).get("generation")
        seen = (lws.get("status") or {}).get("observedGeneration")
        return not isinstance(generation, int) or not isinstance(seen, int) or seen >= generation


@dataclass(frozen=True)
class Verdict:
    """The planner's judgement of a generation as the `Precheck` condition keeps it (durable, unlike a
    message)."""

    generation: int
    passed: bool
    message: str


@dataclass(frozen=True)
class Observed:
    """What the deployer knows about one application at one moment."""

    generation: int
    loaded_status: str | None  # the Loaded condition's status, None when absent
    loaded_reason: str
    loaded_message: str
    plan: PlanReady | None  # the newest plan for this application (same uid), whatever its generation
    verdict: Verdict | None = None
    roles: list[RoleObserved] = field(default_factory=list)
    problem: ApplyProblem | None = None  # applying the newest plan failed this way
    pods: str | None = None  # why groups are not ready, from their pods (`core.pods.pods_account`)
    loaded_generation: int = 0  # the generation the Loaded condition judged
    waits_for_model: bool = False  # the newest plan's objects are held back until its model is loaded
    pods_going: bool = False  # a pod of the application is being deleted (`core.terminating`): its group may not serve


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
    roles: list[dict[str, Any]] = field(default_factory=list)
    unsettled: bool = False
    """Groups are short of ready, or on their way (a rollout, a scale), and nothing else (the planner, an API error)
    is the story: the pods tell why (`Observed.pods`) and which group counted ready is being deleted
    (`RoleObserved.going`: a set counts it ready until it is gone), and are looked at again while this lasts. Not
    written."""

    def to_k8s(self) -> dict[str, Any]:
        """The status fields the deployer owns, except the Ready condition (added with its transition time)."""
        return {
            "phase": self.phase.value,
            "replicas": self.replicas,
            "readyReplicas": self.ready_replicas,
            "updatedReplicas": self.updated_replicas,
            "observedGeneration": self.observed_generation,
            "selector": self.selector,
            "roles": self.roles,
        }


OWN_STATUS_FIELDS = frozenset(
    {"phase", "replicas", "readyReplicas", "updatedReplicas", "observedGeneration", "selector", "roles"}
)
"""The status fields `DeployerStatus.to_k8s` writes (with the Ready condition): the deployer's own."""


def others_part(app: dict[str, Any], finalizer: str) -> dict[str, Any]:
    """The application without what the deployer itself writes (its finalizer, its status fields and Ready
    condition) and without what changes with every write (resourceVersion, and what `kept` leaves out of every
    copy): two versions with the same part differ only by the deployer's own writes, so the newer holds no news."""
    copy = kept(app)
    meta = {k: v for k, v in copy["metadata"].items() if k != "resourceVersion"}
    meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != finalizer]
    status = {k: v for k, v in (app.get("status") or {}).items() if k not in OWN_STATUS_FIELDS}
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        ready = ConditionType.READY.value
        status["conditions"] = [c for c in conditions if not (isinstance(c, dict) and c.get("type") == ready)]
    return {**copy, "metadata": meta, "status": status}


def _plan_is_current(obs: Observed) -> bool:
    return obs.plan is not None and obs.plan.generation >= obs.generation


def _failed_check(obs: Observed) -> str | None:
    """The newest generation's precheck failure message, from the plan or else from the durable condition."""
    if obs.plan is not None and _plan_is_current(obs):
        return None if obs.plan.precheck.passed else obs.plan.precheck.message
    if obs.verdict is not None and obs.verdict.generation >= obs.generation and not obs.verdict.passed:
        return obs.verdict.message
    return None


def _serving(roles: list[RoleObserved]) -> bool:
    return bool(roles) and all(r.counts()[1] >= 1 for r in roles)


def _steady(roles: list[RoleObserved]) -> bool:
    for role in roles:
        replicas, ready, updated = role.counts()
        if not role.on_plan or not (replicas == ready == updated == role.desired):
            return False
        if not role.seen_by_its_controller():  # its counts describe the spec before the one applied
            return False
    return True


def _rolled(roles: list[RoleObserved]) -> bool:
    """Every set carries the newest plan, its controller has seen it, and every group is updated to it."""
    for role in roles:
        replicas, _, updated = role.counts()
        if not (role.on_plan and role.seen_by_its_controller() and replicas == updated == role.desired):
            return False
    return True


def _progress(roles: list[RoleObserved]) -> str:
    ready = sum(r.counts()[1] for r in roles)
    desired = sum(r.desired for r in roles)
    text = f"{ready} of {desired} replica groups ready"
    if len(roles) > 1:  # PD-separated: the service needs every role, so say which one is short
        text += " (" + ", ".join(f"{r.name} {r.counts()[1]}/{r.desired}" for r in roles) + ")"
    return text


def _short(roles: list[RoleObserved]) -> bool:
    return any(r.lws is not None and r.counts()[1] < r.desired for r in roles)


def _told(obs: Observed) -> str:
    return f"; {obs.pods}" if obs.pods else ""


def _model_wait(obs: Observed) -> str:
    """What the newest spec waits for: the model's gate in its words, or the gate itself when it has not judged
    this generation yet (its `Loaded` is an older spec's, perhaps of another model)."""
    newest = max(obs.generation, obs.plan.generation if obs.plan is not None else 0)
    if obs.loaded_status == ConditionStatus.TRUE.value or obs.loaded_generation < newest:
        return f"the model-loader has not judged generation {newest} yet"
    return obs.loaded_message or LoadedReason.LOADING.value


def _retry(problem: ApplyProblem) -> str:
    return f" (retrying in {problem.retry_seconds:g} s)" if problem.retry_seconds is not None else ""


def _with_missing_roles(obs: Observed) -> list[RoleObserved]:
    """The observed roles, plus as absent every role the service needs that has no LeaderWorkerSet: those of the
    newest plan (of any generation) once a role of it is live, and the PD roles once one of them is live (a refused
    generation's plan names no roles). A PD service whose decode groups were never created does not serve."""
    names = {r.name for r in obs.roles}
    planned = [r.name for r in obs.plan.roles] if obs.plan is not None else []
    needed = planned if names & set(planned) else list(PD_ROLES) if names & set(PD_ROLES) else []
    return list(obs.roles) + [
        RoleObserved(name=n, desired=0, lws=None, on_plan=False) for n in needed if n not in names
    ]


def _failed_meanwhile(problem: ApplyProblem | None) -> str:
    """What was applied while the sets wait for their model (a count, a missing Service), failed."""
    return "" if problem is None else f"; applying the newest plan failed: {problem.message}{_retry(problem)}"


def compute(name: str, obs: Observed) -> DeployerStatus:
    roles = _with_missing_roles(obs)
    serving = _serving(roles)
    progress = _progress(roles)
    live = any(r.lws is not None for r in roles)
    problem = obs.problem
    failed_check = _failed_check(obs)
    unsettled = False

    if failed_check is not None:
        phase, reason = Phase.FAILED, ReadyReason.PRECHECK_FAILED
        message = f"The application did not pass the pre-checking: {failed_check}"
        if serving:  # a bad edit does not take a running service down; say both truths
            reason, message = ReadyReason.RUNNING, f"{READY_MESSAGE} on the previous generation ({progress}); {message}"
    elif problem is not None and problem.permanent:
        phase, reason = Phase.FAILED, ReadyReason.APPLY_REFUSED
        message = f"The cluster refused the application's objects: {problem.message}{_retry(problem)}"
        if serving:
            reason, message = ReadyReason.RUNNING, f"{READY_MESSAGE} on the previous objects ({progress}); {message}"
    elif serving:
        phase = Phase.RUNNING
        if not _plan_is_current(obs):
            reason, message = ReadyReason.UPDATING, f"{progress}; the planner is checking generation {obs.generation}"
        elif obs.waits_for_model:  # the groups keep the model they have: the new one is not there yet
            reason = ReadyReason.UPDATING
            message = f"{progress} on the previous spec; waiting for the model: {_model_wait(obs)}"
            message += _failed_meanwhile(problem)
        elif problem is not None:
            reason = ReadyReason.UPDATING
            message = f"{progress}; applying the newest plan failed: {problem.message}{_retry(problem)}"
        elif _steady(roles):
            reason, message = ReadyReason.RUNNING, READY_MESSAGE
            unsettled = obs.pods_going  # its set still counts that pod's group ready: the pods tell whether it is
        elif not all(r.seen_by_its_controller() for r in roles):
            reason = ReadyReason.UPDATING
            message = f"{progress}; the LeaderWorkerSet controller has not yet taken the newest spec"
            unsettled = True  # a rollout starts: its first group's pods go any moment
        elif _rolled(roles):  # the newest spec is out, and groups are short of ready: an eviction, a crash
            reason, message = ReadyReason.UPDATING, f"{progress}{_told(obs)}"
            unsettled = True
        else:
            reason, message = ReadyReason.UPDATING, f"{progress}; moving to the newest spec"
            message += _told(obs) if _short(roles) else ""
            unsettled = True
    elif not _plan_is_current(obs):
        phase, reason = Phase.CHECKING, ReadyReason.WAITING_FOR_PLAN
        message = f"Waiting for the planner to check generation {obs.generation}"
    elif obs.loaded_status != ConditionStatus.TRUE.value and not live:
        failed = obs.loaded_reason in {r.value for r in LOADED_FAILURES}
        phase = Phase.FAILED if failed else Phase.LOADING
        reason = ReadyReason.WAITING_FOR_MODEL
        message = f"Waiting for the model: {obs.loaded_message or LoadedReason.LOADING.value}"
    elif obs.waits_for_model:
        phase, reason, message = (
            Phase.LOADING,
            ReadyReason.WAITING_FOR_MODEL,
            f"Waiting for the model: {_model_wait(obs)}{_failed_meanwhile(problem)}",
        )
    elif problem is not None:
        phase = Phase.CREATING
        reason = ReadyReason(problem.kind.value)  # ApplyForbidden or ApplyRetrying
        message = f"Applying the application's objects failed: {problem.message}{_retry(problem)}"
    elif live and roles and all(r.desired == 0 for r in roles):
        phase, reason, message = Phase.RUNNING, ReadyReason.SCALED_TO_ZERO, "Scaled to zero replica groups"
    elif not live or all(r.counts()[0] == 0 for r in roles):
        phase, reason = Phase.CREATING, ReadyReason.CREATING
        message = "Creating the LeaderWorkerSet; no replica group is ready yet"
    else:
        phase, reason = Phase.CREATING, ReadyReason.NOT_READY
        what = "a replica group" if len(roles) <= 1 else "a replica group of every role"
        message = f"Waiting for {what} with every pod Ready: {progress}{_told(obs)}"
        unsettled = True

    # a serving status counts groups ready by their sets, which count a terminating pod's group until it is gone:
    # whatever else the story is (a refused edit, a model download, the planner), the pods tell whether it serves
    unsettled = unsettled or (serving and obs.pods_going)
    reported = _plan_is_current(obs)  # observedGeneration names the newest plan: count only groups on it
    totals = [_reported_counts(r, reported) for r in roles]
    return DeployerStatus(
        phase=phase,
        replicas=sum(t[0] for t in totals),
        ready_replicas=sum(t[1] for t in totals),
        updated_replicas=sum(t[2] for t in totals),
        observed_generation=obs.plan.generation if obs.plan is not None else 0,
        selector=leader_selector(name),
        ready=reason in SERVING,
        ready_reason=reason,
        ready_message=bounded(message),
        roles=[_role_status(r, reported) for r in roles],
        unsettled=unsettled,
    )


def _reported_counts(role: RoleObserved, newest_plan_reported: bool) -> tuple[int, int, int]:
    """The role's counts as the status reports them: a set that carries an older plan than the one
    observedGeneration names (held for its model, its apply failed or was refused) has no group updated to it."""
    replicas, ready, updated = role.counts()
    return replicas, ready, 0 if newest_plan_reported and not role.on_plan else updated


def _role_status(role: RoleObserved, newest_plan_reported: bool) -> dict[str, Any]:
    replicas, ready, updated = _reported_counts(role, newest_plan_reported)
    return {
        "name": role.name,
        "desiredReplicas": role.desired,
        "replicas": replicas,
        "readyReplicas": ready,
        "updatedReplicas": updated,
    }


READY = ConditionType.READY.value


WAITING_PHASES = frozenset({Phase.CHECKING, Phase.LOADING})
FIRST_PHASE_GRACE_SECONDS = 1.0
"""How long a brand-new application may show no phase while the planner and the model-loader judge it."""


def first_phase_waits(written_phase: str | None, status: DeployerStatus, seen_for: float) -> bool:
    """Whether the deployer leaves a brand-new application's first status unwritten for now: while it only
    waits for the planner's verdict or the model (Checking, Loading) and was first seen less than the grace ago.
    Those judgements usually land within milliseconds, and each is its own status write on the same object:
    writing a waiting phase in between costs a write that the next one overwrites and slows the others down
    (concurrent writes of one object conflict and are retried by the API server). After the grace the waiting
    phase is written as usual (a planner that is away, a model that takes minutes to load). `Pending` is the CRD's
    default, shown as soon as another service wrote a condition: the deployer never writes it."""
    untouched = not written_phase or written_phase == Phase.PENDING.value
    return untouched and status.phase in WAITING_PHASES and seen_for < FIRST_PHASE_GRACE_SECONDS
