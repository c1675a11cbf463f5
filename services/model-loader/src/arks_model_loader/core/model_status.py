"""An ArksModel's status — phase and the StorageCreated, ModelLoaded and Ready conditions — as a pure
function of its claim and download Job. Messages of success keep the user guide's wording."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from arks_common.api.conditions import bounded
from arks_common.api.model import NAME_MAX, REPO_ID_MAX, ModelConditionType, ModelPhase
from arks_common.kube.pods import CANNOT_START, why_not_running


class ModelReason(StrEnum):
    CREATE_SUCCEEDED = "CreateSucceeded"
    ACCESS_MODES_UNCHANGED = "AccessModesUnchanged"
    STORAGE_CLASS_UNCHANGED = "StorageClassUnchanged"
    STORAGE_SIZE_UNCHANGED = "StorageSizeUnchanged"
    CREATING = "Creating"
    CREATE_FAILED = "CreateFailed"
    LOADING = "Loading"
    WAITING_FOR_STORAGE = "WaitingForStorage"
    STORAGE_DELETING = "StorageDeleting"
    STORAGE_CLASS_NOT_FOUND = "StorageClassNotFound"
    NO_DEFAULT_STORAGE_CLASS = "NoDefaultStorageClass"
    LOAD_SUCCEEDED = "ModelLoadSucceeded"
    LOAD_FAILED = "ModelLoadFailed"
    READY = "Ready"
    NOT_READY = "NotReady"


KEPT = frozenset(
    {ModelReason.ACCESS_MODES_UNCHANGED, ModelReason.STORAGE_CLASS_UNCHANGED, ModelReason.STORAGE_SIZE_UNCHANGED}
)
"""StorageCreated's reasons for a spec edit its claim does not take: one reason tells the first of them, the message
all, so a new message (another edit) is told as an Event again."""
WARNINGS = KEPT | {
    ModelReason.STORAGE_CLASS_NOT_FOUND,
    ModelReason.NO_DEFAULT_STORAGE_CLASS,
    ModelReason.STORAGE_DELETING,
}
"""Reasons also told as a Warning Event when a condition turns to them: the user must act, and the phase (the
model's other Event) does not change."""


@dataclass(frozen=True)
class Cond:
    type: str
    ok: bool | None
    reason: ModelReason
    message: str


PVC_PROTECTION = "kubernetes.io/pvc-protection"
"""The finalizer Kubernetes keeps on a claim being deleted while a pod that is not finished mounts it."""
PODS_NAMED = 5
"""Pods named in the message of a claim being deleted (the rest counted)."""


@dataclass(frozen=True)
class ClaimDeleting:
    """The model's claim is being deleted: what keeps it (its finalizers, and the model's pods that mount it)."""

    finalizers: tuple[str, ...] = ()
    pods: tuple[str, ...] = ()
    applications: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()  # the model's download Jobs into it, deleted: their pods, finished or not, kept it


@dataclass(frozen=True)
class ModelObserved:
    model_name: str
    repo_id: str
    pvc_name: str
    pvc: dict[str, Any] | None
    pvc_error: str | None  # the API server refused the claim
    job: dict[str, Any] | None
    failure_message: str | None  # the failed download pod's termination message
    start_problem: str | None = None  # why the running Job's download pod cannot start (`download_blocked`)
    job_error: str | None = None  # the API server refused the download Job for good
    downloaded: bool = False  # the model's download completed into this claim (`status.download`), Job or not
    missing_storage_class: str | None = None  # the unbound claim's storageClassName, which names no StorageClass
    access_modes_kept: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # (the claim's, the spec's) when not equal
    storage_class_kept: tuple[str | None, str] | None = None  # (the claim's class, the spec's) when not equal
    size_kept: tuple[str, str, bool] | None = None  # (the claim's size, the spec's, the spec's larger) when not equal
    no_default_class: bool = False  # the unbound claim names no class, and the cluster has no default StorageClass
    class_refused: str | None = None  # the API server's words when setting the spec's class on that claim failed
    claim_deleting: ClaimDeleting | None = None  # the claim the model names is being deleted (`pvc` is then None)


@dataclass(frozen=True)
class ModelVerdict:
    phase: ModelPhase
    conditions: tuple[Cond, Cond, Cond]


def job_outcome(job: dict[str, Any] | None) -> str:
    """`succeeded`, `failed` or `running` (also when there is no Job yet)."""
    if job is None:
        return "running"
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "succeeded"
        if cond.get("status") == "True" and cond.get("type") in ("Failed", "FailureTarget"):
            return "failed"
    return "running"


def waiting_on_its_pod(job: dict[str, Any] | None) -> bool:
    """A Job that runs but whose pod is not ready: what holds it (a Secret that does not exist, an image that does
    not pull, no node) changes no Job, so its pods are looked at, and looked at again while this lasts."""
    status = (job or {}).get("status") or {}
    return job is not None and job_outcome(job) == "running" and not int(status.get("ready") or 0)


def download_blocked(pods: list[dict[str, Any]], container: str) -> str | None:
    """Why the newest of a Job's pods cannot start its download `container`, in Kubernetes' words (a crash loop is
    not among them: the Job fails of it); None when it is starting or running (or there is no pod yet). The
    download stays `ModelLoading` meanwhile: the Job never fails of these, and `Downloading` would be untrue."""
    if not pods:
        return None
    return why_not_running(newest_first(pods)[0], CANNOT_START, container)


def newest_first(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Job's pods, the newest first (by creation)."""
    return sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")), reverse=True)


def job_failure_reason(job: dict[str, Any] | None) -> str:
    for cond in ((job or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return f"{cond.get('reason', '')}: {cond.get('message', '')}".strip(": ")
    return ""


def compute_model_status(obs: ModelObserved) -> ModelVerdict:
    storage_t = ModelConditionType.STORAGE_CREATED.value
    loaded_t = ModelConditionType.MODEL_LOADED.value
    ready_t = ModelConditionType.READY.value
    # quoted whole when the CRD's bounds hold (a model stored before them: cut), so no message outgrows the status
    repo_id, pvc_name = bounded(obs.repo_id, REPO_ID_MAX), bounded(obs.pvc_name, NAME_MAX)
    obs = replace(obs, repo_id=repo_id, pvc_name=pvc_name)
    if obs.pvc_error is not None:
        msg = bounded(f"Create model storage failed({obs.pvc_name}): {obs.pvc_error}")
        return ModelVerdict(
            ModelPhase.FAILED,
            (
                Cond(storage_t, False, ModelReason.CREATE_FAILED, msg),
                Cond(loaded_t, False, ModelReason.WAITING_FOR_STORAGE, "Waiting for the model storage"),
                Cond(ready_t, False, ModelReason.CREATE_FAILED, msg),
            ),
        )
    if obs.pvc is None and obs.claim_deleting is not None:
        # not "Creating": nothing is created while the name is held, and what holds it does not go by itself
        deleting = claim_deleting_message(obs.pvc_name, obs.claim_deleting)
        return ModelVerdict(
            ModelPhase.STORAGE_CREATING,
            (
                Cond(storage_t, False, ModelReason.STORAGE_DELETING, deleting),
                Cond(
                    loaded_t,
                    False,
                    ModelReason.WAITING_FOR_STORAGE,
                    bounded(f"Waiting for the model storage: {deleting}"),
                ),
                Cond(ready_t, False, ModelReason.NOT_READY, "The model storage is being deleted"),
            ),
        )
    if obs.pvc is None:
        return ModelVerdict(
            ModelPhase.STORAGE_CREATING,
            (
                Cond(storage_t, False, ModelReason.CREATING, f"Creating model storage({obs.pvc_name})"),
                Cond(loaded_t, False, ModelReason.WAITING_FOR_STORAGE, "Waiting for the model storage"),
                Cond(ready_t, False, ModelReason.NOT_READY, "The model storage is being created"),
            ),
        )
    storage = Cond(storage_t, True, ModelReason.CREATE_SUCCEEDED, f"Create model storage successfully({obs.pvc_name})")
    kept = _kept(obs)
    if kept:
        # the claim does not take the edit (Kubernetes forbids it, or it waits for a failed download): nothing is
        # deleted or made anew, and the model serves on as it is (its data stays); the user reads what counts, and
        # how to get the rest
        storage = Cond(
            storage_t,
            True,
            kept[0][0],
            bounded(f"Create model storage successfully({obs.pvc_name}); " + "; ".join(text for _, text in kept)),
        )
    if obs.job_error is not None:
        return _load_failed(
            storage, bounded(f"Load the model {obs.repo_id} failed: the download Job was refused: {obs.job_error}")
        )
    outcome = "succeeded" if obs.downloaded and obs.job is None else job_outcome(obs.job)
    if outcome == "succeeded":
        return ModelVerdict(
            ModelPhase.READY,
            (
                storage,
                Cond(loaded_t, True, ModelReason.LOAD_SUCCEEDED, "Load the model successfully"),
                Cond(ready_t, True, ModelReason.READY, "The model is ready now"),
            ),
        )
    if outcome == "failed":
        why = (obs.failure_message or "").strip() or job_failure_reason(obs.job) or "the download Job failed"
        return _load_failed(storage, bounded(f"Load the model {obs.repo_id} failed: {why}"))
    loading, reason = f"Downloading {obs.repo_id} into {obs.pvc_name}", ModelReason.LOADING
    claim_phase = str(((obs.pvc or {}).get("status") or {}).get("phase") or "Pending")
    if claim_phase != "Bound" and obs.missing_storage_class is not None:
        # the cause, before its effect (the download pod unschedulable for an unbound claim): nothing provisions a
        # volume of a class that does not exist; only a PersistentVolume made by hand with that class name binds
        reason = ModelReason.STORAGE_CLASS_NOT_FOUND
        loading = bounded(
            f"Waiting for a volume to be bound to {obs.pvc_name} ({claim_phase[:63]}) to download {obs.repo_id}: "
            f"its StorageClass {obs.missing_storage_class[:253]!r} (spec.storage.pvc.spec.storageClassName) does "
            "not exist, so no volume is provisioned for it; create that StorageClass (or a PersistentVolume of that "
            "class), or give the model another claim (spec.storage.pvc.name) of an existing class: a claim's class "
            "cannot change"
        )
    elif claim_phase != "Bound" and obs.no_default_class:
        # as with a class that does not exist: nothing provisions it, and the download pod's Unschedulable would hide
        # why; a default class (or a class named in the spec, which the model-loader sets) lets it go on
        reason = ModelReason.NO_DEFAULT_STORAGE_CLASS
        loading = bounded(
            f"Waiting for a volume to be bound to {obs.pvc_name} ({claim_phase[:63]}) to download {obs.repo_id}: "
            "the claim names no StorageClass (spec.storage.pvc.spec.storageClassName) and the cluster has no "
            'default StorageClass (annotated storageclass.kubernetes.io/is-default-class: "true"), so no volume is '
            "provisioned for it; name an existing class in spec.storage.pvc.spec.storageClassName, or make a "
            "StorageClass the default: the claim takes it"
            + (f" (setting the class the spec names was refused: {obs.class_refused})" if obs.class_refused else "")
        )
    elif obs.start_problem:
        loading = bounded(f"The download of {obs.repo_id} cannot start: {obs.start_problem}")
    elif claim_phase != "Bound":
        # a claim no volume is bound to yet (a storage class that provisions nothing, one waiting for the download's
        # pod) holds the download back: say so, not that it runs
        loading = f"Waiting for a volume to be bound to {obs.pvc_name} ({claim_phase}) to download {obs.repo_id}"
    return ModelVerdict(
        ModelPhase.MODEL_LOADING,
        (
            storage,
            Cond(loaded_t, False, reason, loading),
            Cond(ready_t, False, ModelReason.NOT_READY, "The model is being loaded"),
        ),
    )


def _kept(obs: ModelObserved) -> list[tuple[ModelReason, str]]:
    """What of the spec's claim the claim does not take, each with its reason and words (naming the field, and
    what to do)."""
    kept: list[tuple[ModelReason, str]] = []
    new_claim = "give the model a new claim (spec.storage.pvc.name)"
    if obs.access_modes_kept is not None:
        held, asked = (list(modes) for modes in obs.access_modes_kept)
        kept.append(
            (
                ModelReason.ACCESS_MODES_UNCHANGED,
                f"its access modes stay {held}: a claim's access modes cannot change once it exists, so "
                f"spec.storage.pvc.spec.accessModes {asked} is not applied and applications are placed by {held}; "
                f"to change them, {new_claim}",
            )
        )
    if obs.storage_class_kept is not None:
        had, wanted = obs.storage_class_kept
        if had is not None:
            why = "a claim's class cannot change once it is set"
        elif obs.class_refused is not None:  # the model's own unbound claim, which may take one: it was refused
            why = f"setting it on the claim was refused: {obs.class_refused}"
        else:  # Kubernetes lets a claim without one take a class while unbound (the model-loader sets it on its own)
            why = "a bound claim, or one the model did not make, keeps its lack of one"
        kept.append(
            (
                ModelReason.STORAGE_CLASS_UNCHANGED,
                f"its StorageClass stays {'none' if had is None else repr(had)}: {why}, so "
                f"spec.storage.pvc.spec.storageClassName {wanted!r} is not applied; to use that class, {new_claim}, "
                "or delete the model and create it again (its claim and downloaded files go with it)",
            )
        )
    if obs.size_kept is not None:
        had, wanted, larger = obs.size_kept
        why = (
            "the model-loader grows a claim it made only while the model is Failed (a full volume), and a claim "
            "grows only if its StorageClass allows volume expansion"
            if larger
            else "a claim never shrinks"
        )
        remedy = f"; to grow it now, expand the claim {obs.pvc_name} yourself or {new_claim}" if larger else ""
        kept.append(
            (
                ModelReason.STORAGE_SIZE_UNCHANGED,
                f"its size stays {had}: {why}, so spec.storage.pvc.spec.resources.requests.storage {wanted} is not "
                f"applied{remedy}",
            )
        )
    return kept


def _load_failed(storage: Cond, message: str) -> ModelVerdict:
    """The storage is there; the download was refused or failed."""
    loaded, ready = ModelConditionType.MODEL_LOADED.value, ModelConditionType.READY.value
    return ModelVerdict(
        ModelPhase.FAILED,
        (
            storage,
            Cond(loaded, False, ModelReason.LOAD_FAILED, message),
            Cond(ready, False, ModelReason.LOAD_FAILED, message),
        ),
    )


def claim_deleting_message(pvc_name: str, held: ClaimDeleting) -> str:
    """What keeps the model's claim that is being deleted, and what to do about it."""
    if held.pods:
        named = ", ".join(pod[:253] for pod in held.pods[:PODS_NAMED])
        more = f" and {len(held.pods) - PODS_NAMED} more" if len(held.pods) > PODS_NAMED else ""
        apps = ", ".join(app[:253] for app in held.applications[:PODS_NAMED])
        users = f"pods of this model mount it: {named}{more}" + (f" (applications {apps})" if apps else "")
    else:
        users = "no pod of this model mounts it now (another pod may)"
    others = [f[:253] for f in held.finalizers if f != PVC_PROTECTION][:PODS_NAMED]
    jobs = ", ".join(job[:63] for job in held.jobs[:PODS_NAMED])
    return bounded(
        f"The claim {pvc_name} is being deleted; Kubernetes keeps it while any pod mounts it ({PVC_PROTECTION}), "
        f"and {users}"
        + (f"; its finalizers {others} keep it too" if others else "")
        + (f"; the model's download Job {jobs}, whose pod mounts it, is deleted" if jobs else "")
        + ". A claim being deleted cannot be kept: once it is gone, a new one is created and the model downloaded "
        "again. To let it go, stop the pods that mount it (delete their applications, move them to another model, or "
        "scale them to 0 until the model is Ready again); until then they serve on from it"
    )
