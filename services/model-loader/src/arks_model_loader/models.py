"""Reconciles one ArksModel: its claim, its download Job, and its status; keeps a model that applications
still use from disappearing under them (a finalizer), and says so on the model and the applications."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from arks_common.api.conditions import bounded, condition, condition_dict, is_news, set_condition
from arks_common.api.meta import Condition
from arks_common.api.model import REPO_ID_MAX, ArksModel, ModelPhase
from arks_common.api.quantity import quantity_value
from arks_common.bus.consumer import Later, TemporaryError
from arks_common.kube.client import Conflict, Kube, KubeError, Undecodable
from arks_common.kube.events import EventRecorder
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import (
    APPLICATIONS,
    JOBS,
    LABEL_APPLICATION,
    LABEL_MODEL,
    MODELS,
    PODS,
    PVCS,
    STORAGECLASSES,
)
from arks_common.kube.status import set_finalizer
from arks_common.telemetry.logging import get_logger
from arks_model_loader.core.loaded import model_name_of
from arks_model_loader.core.model_status import (
    KEPT,
    WARNINGS,
    ClaimDeleting,
    ModelObserved,
    compute_model_status,
    download_blocked,
    job_outcome,
    newest_first,
    waiting_on_its_pod,
)
from arks_model_loader.core.retelling import Told, worth_telling
from arks_model_loader.core.storage import (
    DOWNLOAD_CONTAINER,
    DownloaderConfig,
    belongs_to,
    claim,
    claim_record,
    class_to_set,
    download_inputs,
    download_job,
    download_record,
    downloaded_here,
    held_by_another,
    is_default_class,
    job_inputs,
    kept_access_modes,
    kept_size,
    kept_storage_class,
    made_for,
    made_for_another_claim,
    mounting,
    owned_by,
    requested_storage,
    tried_for_another_generation,
    unbound_claims_class,
    waits_for_a_default_class,
)
from arks_model_loader.metrics import forget, set_phase

log = get_logger(__name__)
CONTROLLER = "model-loader"
MODEL_FINALIZER = "arks.ai/model-in-use"
POD_RECHECK_SECONDS = 30.0
LOOK_AGAIN_TIMES = 6
"""Looks at a waiting download's pod after the model's last event (3 minutes): below the consumer's `max_deliver`
(8), so the looks end quietly instead of as a dead letter."""
RECHECKS_KEPT = 4096
TOLD_KEPT = 4096
"""Warnings remembered (`_warn_again`), least recently told out: one forgotten is at worst recorded once more."""
CLASS_PAGE = 100
CLASS_PAGES = 5
"""StorageClasses read at most (pages of `CLASS_PAGE`) for a default while a claim without a class waits: a cluster
has a few; one with 500 or more is not told about."""


class ModelReconciler:
    def __init__(
        self,
        kube: Kube,
        events: EventRecorder,
        config: DownloaderConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._events = events
        self._config = config
        self._clock = clock
        self._told: OrderedDict[tuple[str, str], Told] = OrderedDict()
        """(model uid, reason) -> the Warning this replica last recorded for a situation no write changes."""
        self._rechecks: OrderedDict[tuple[str, str], int] = OrderedDict()
        """Models whose download waits on its pod -> the stream sequence of the message that looks again."""
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        """One reconcile of a model at a time in this replica: its events' and the schedule's (`resync`); each lock
        with how many reconciles hold or wait for it, and dropped when none does (model names come and go)."""

    async def reconcile(self, namespace: str, name: str) -> bool:
        """True when the model's download waits on its pod: the caller ends its handling with `look_again`."""
        key = (namespace, name)
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with reconciling(CONTROLLER), lock:
                tries = 1
                while True:
                    try:
                        return await self._reconcile(namespace, name)
                    except StatusMoved:
                        if tries == STATUS_TRIES:
                            raise  # a Conflict: the bus tries the event again
                        tries += 1
        finally:
            lock, users = self._locks[key]
            if users > 1:
                self._locks[key] = (lock, users - 1)
            else:
                del self._locks[key]

    async def reconcile_deleting_models(self, namespace: str) -> None:
        """After an application went away or changed its spec: a model waiting for its last user may now be
        released."""
        async with reconciling(CONTROLLER):
            models, _ = await self._kube.list(MODELS, namespace)
        for raw in models:
            if raw["metadata"].get("deletionTimestamp"):
                await self.reconcile(namespace, raw["metadata"]["name"])

    async def resync(self, models: Iterable[tuple[str, str]]) -> None:
        """On a schedule, every model the watch of models shows is reconciled, as its events would: an event that
        never came leaves it wrong otherwise. A restarted watcher remembers nothing to tell gone, and the copies its
        relist republishes fall in the bus's duplicate window, so a deletion while it was down is never told: the
        last user of a model being deleted (an application without the deployer's finalizer), whose deletion
        releases the model; a download Job or a claim deleted under the model. A failure waits for the next round,
        or the model's own next event."""
        for namespace, name in models:
            try:
                await self.reconcile(namespace, name)
            except TemporaryError as exc:
                log.warning("model not reconciled on schedule", model=f"{namespace}/{name}", error=str(exc)[:300])

    async def _reconcile(self, namespace: str, name: str) -> bool:
        """True when the download waits on its pod (`look_again`)."""
        try:
            raw = await self._kube.get(MODELS, namespace, name)
        except Undecodable as exc:  # reported, and a deletion still completes from the stub
            await self._unreadable(exc.stub, str(exc))
            return False
        if raw is None:
            forget(namespace, name)
            return False
        try:
            model = ArksModel.model_validate(raw)
        except ValidationError as exc:
            await self._unreadable(raw, str(exc))
            return False
        if raw["metadata"].get("deletionTimestamp"):
            forget(namespace, name)
            await self._finalize(raw)
            return False
        if MODEL_FINALIZER not in (raw["metadata"].get("finalizers") or []):
            answer = await set_finalizer(self._kube, MODELS, raw, MODEL_FINALIZER, present=True)
            if _only_finalizers_moved(raw, answer):
                # its own write: the status goes onto the version it made (any other change since is a conflict)
                raw["metadata"]["resourceVersion"] = answer["metadata"].get("resourceVersion")

        pvc_error = None
        forbidden = False  # a 403 (a quota, a LimitRange): looked at again, as what forbids it may change
        deleting: ClaimDeleting | None = None
        pvc = await self._kube.get(PVCS, namespace, model.pvc_name())
        holder = None if pvc is None else held_by_another(pvc, model)
        if holder is not None:
            # another model's or another controller's claim: nothing frees it by itself, and it is not ours to write
            pvc_error = f"the claim belongs to {holder}; give this model a claim of its own (spec.storage.pvc.name)"
            pvc = None
        elif pvc is not None and not belongs_to(pvc, model):
            # a claim on its way out (a deleted namesake model's, or deleted by hand): its deletion's event brings the
            # next step, a new claim; one being deleted waits for the pods that mount it, which the status names
            if pvc["metadata"].get("deletionTimestamp"):
                deleting = await self._claim_deleting(pvc, model)
            pvc = None
        elif pvc is None:
            # one step per reconcile: the claim's own watch event brings the next (StorageCreating is visible)
            try:
                await self._kube.create(PVCS, namespace, claim(model))
                await self._events.record(raw, "Normal", "StorageCreated", f"Created PVC {model.pvc_name()}")
            except Conflict:
                pass
            except KubeError as exc:
                if exc.temporary:
                    raise  # the server could not take it now: the reconcile is retried
                # refused for good (422 invalid, 403 a quota or LimitRange): the model's failure, in the server's words
                pvc_error = bounded(str(exc))  # told in the server's words, bounded
                forbidden = exc.status == 403
        job = None
        failure = start_problem = job_error = None
        downloaded = False
        class_refused: str | None = None
        if pvc is not None and pvc_error is None:
            pvc, class_refused = await self._set_claim_class(raw, pvc, model)
        if pvc is not None and (raw.get("status") or {}).get("phase") == "Failed":
            pvc, pvc_error = await self._grow_claim(pvc, model)
        if pvc is not None and pvc_error is None:
            downloaded = downloaded_here((raw.get("status") or {}).get("download"), model, pvc)
            job, job_error, job_forbidden = await self._ensure_job(raw, model, pvc, downloaded)
            forbidden = forbidden or job_forbidden
            if job is not None and job_outcome(job) == "failed":
                failure = await self._termination_message(namespace, job["metadata"]["name"])
            elif job is not None and waiting_on_its_pod(job):
                start_problem = download_blocked(
                    await self._job_pods(namespace, job["metadata"]["name"]), DOWNLOAD_CONTAINER
                )
        missing_class, no_default = None, False
        if pvc is not None and not downloaded:
            missing_class = await self._missing_storage_class(pvc)
            no_default = missing_class is None and await self._no_default_class(pvc)
        verdict = compute_model_status(
            ModelObserved(
                model_name=name,
                repo_id=model.spec.model,
                pvc_name=model.pvc_name(),
                pvc=pvc,
                pvc_error=pvc_error,
                job=job,
                failure_message=failure,
                start_problem=start_problem,
                job_error=job_error,
                downloaded=downloaded,
                missing_storage_class=missing_class,
                access_modes_kept=kept_access_modes(model, pvc) if pvc is not None else None,
                storage_class_kept=kept_storage_class(model, pvc) if pvc is not None else None,
                size_kept=kept_size(model, pvc) if pvc is not None else None,
                no_default_class=no_default,
                class_refused=class_refused,
                claim_deleting=deleting,
            )
        )
        # Ready only on a download into this very claim (`_ensure_job` keeps no Job made for another): recorded, so
        # the model stays Ready when its finished Job is removed (by hand, a TTL policy)
        record = download_record(model, pvc) if pvc is not None and verdict.phase is ModelPhase.READY else None
        claimed = claim_record(pvc) if pvc is not None else None
        await self._write_status(raw, verdict.phase.value, verdict.conditions, record, claimed)
        set_phase(namespace, name, verdict.phase.value)
        return forbidden or (job is not None and waiting_on_its_pod(job))

    def look_again(self, namespace: str, name: str, sequence: int, attempt: int) -> None:
        """While a download waits on its pod, this model is looked at again every `POD_RECHECK_SECONDS` (what holds
        a pod changes no Job, so nothing else would wake it), by the newest of its messages alone (`sequence`, its
        stream sequence: an older one that comes back is done), `LOOK_AGAIN_TIMES` times after the model's last
        event; its next event (a status write of ours, the Job's) starts the looks again."""
        key = (namespace, name)
        carrier = self._rechecks.get(key)
        if carrier is not None and carrier > sequence:
            return  # a newer message of this model looks again
        if attempt > LOOK_AGAIN_TIMES:
            self._rechecks.pop(key, None)
            return
        self._rechecks[key] = sequence
        self._rechecks.move_to_end(key)
        while len(self._rechecks) > RECHECKS_KEPT:
            self._rechecks.popitem(last=False)
        raise Later(f"the download of {namespace}/{name} waits on its pod", POD_RECHECK_SECONDS)

    async def _set_claim_class(
        self, raw: dict[str, Any], pvc: dict[str, Any], model: ArksModel
    ) -> tuple[dict[str, Any], str | None]:
        """The model's unbound claim without a class (made in a cluster without a default StorageClass) takes the
        class its spec names now: the one change of class Kubernetes allows, and the remedy the model's status
        gives for it. The claim as it is after, and the API server's refusal in its words (the status says it)."""
        name = class_to_set(model, pvc)
        if name is None:
            return pvc, None
        claim_name = model.pvc_name()
        # on the claim as read (its resourceVersion): one bound meanwhile keeps its lack of a class (a 409, retried)
        patch = {
            "metadata": {"resourceVersion": pvc["metadata"].get("resourceVersion")},
            "spec": {"storageClassName": name},
        }
        try:
            patched = await self._kube.merge_patch(PVCS, model.metadata.namespace, claim_name, patch)
        except KubeError as exc:
            if exc.temporary:
                raise  # the server could not take it now, or the claim changed: the reconcile is retried
            log.info("claim class not set", claim=claim_name, status=exc.status, error=str(exc)[:300])
            return pvc, bounded(str(exc), 300)
        await self._events.record(raw, "Normal", "StorageClassSet", bounded(f"Set PVC {claim_name}'s class {name!r}"))
        return patched, None

    async def _grow_claim(self, pvc: dict[str, Any], model: ArksModel) -> tuple[dict[str, Any], str | None]:
        """A failed model's claim grows to the storage its spec asks for now (the downloader's remedy for a full
        volume); a refusal (no volume expansion in the storage class) is the model's failure. A claim never
        shrinks; one the user made for the model (no ArksModel owner) and a model that is not Failed keep theirs
        (the status says so: `kept_size`). The claim as it is after, and the refusal."""
        want = requested_storage({"spec": model.spec.storage.pvc.spec})
        wanted, held = quantity_value(want), quantity_value(requested_storage(pvc))
        if want is None or wanted is None or held is None or wanted <= held or not owned_by(pvc, model):
            return pvc, None
        meta = {"name": model.pvc_name(), "namespace": model.metadata.namespace}
        spec = {"resources": {"requests": {"storage": want}}}
        try:
            grown = await self._kube.apply(
                PVCS, {"apiVersion": "v1", "kind": PVCS.kind, "metadata": meta, "spec": spec}
            )
        except KubeError as exc:
            if exc.temporary:
                raise  # the server could not take it now: the reconcile is retried
            return pvc, f"resizing it to {want} was refused: {exc}"
        log.info("model storage resized", model=f"{meta['namespace']}/{model.metadata.name}", storage=want)
        return grown, None

    async def _missing_storage_class(self, pvc: dict[str, Any]) -> str | None:
        """The storage class an unbound claim names when no such StorageClass exists (nothing will provision its
        volume); None when it is bound, names none (the default class) or the class exists, and when the class
        cannot be read (a 403: an installation without that rule; the server away): the model then says what it
        said before, that it waits for a volume."""
        name = unbound_claims_class(pvc)
        if name is None:
            return None
        try:
            found = await self._kube.get(STORAGECLASSES, "", name)
        except KubeError as exc:
            log.info("storage class not read", storage_class=name[:253], status=exc.status, error=str(exc)[:300])
            return None
        return name if found is None else None

    async def _no_default_class(self, pvc: dict[str, Any]) -> bool:
        """Whether an unbound claim that names no class waits for a default StorageClass the cluster does not have
        (nothing will provision it). The classes are listed while such a claim waits alone, at most `CLASS_PAGES`
        pages; False when there is a default, more classes than that, or they cannot be read (a 403: an
        installation without the rule; the server away): the model then says that it waits for a volume."""
        if not waits_for_a_default_class(pvc):
            return False
        pages = 0
        try:
            async with aclosing(self._kube.list_pages(STORAGECLASSES, page_size=CLASS_PAGE)) as listed:
                async for page, _ in listed:
                    pages += 1
                    if pages > CLASS_PAGES or any(is_default_class(found) for found in page):
                        return False
        except KubeError as exc:
            log.info("storage classes not listed", status=exc.status, error=str(exc)[:300])
            return False
        return True

    async def _ensure_job(
        self, raw: dict[str, Any], model: ArksModel, pvc: dict[str, Any], downloaded: bool
    ) -> tuple[dict[str, Any] | None, str | None, bool]:
        """The model's download Job into `pvc` (None when `downloaded` there already and its Job is gone), why the
        API server refused to create it for good (else None), and whether that refusal was a 403."""
        want = download_job(model, self._config, str(pvc["metadata"].get("uid", "")))
        namespace, wanted = model.metadata.namespace, want["metadata"]["name"]
        job = await self._kube.get(JOBS, namespace, wanted)
        if job is not None and not belongs_to(job, model):
            # a deleted namesake model's Job on its way out: its deletion's event brings the next step
            return None, None, False
        others, _ = await self._kube.list(JOBS, namespace, label_selector=f"{LABEL_MODEL}={model.metadata.name}")
        others = [other for other in others if other["metadata"]["name"] != wanted and made_for(other, model)]
        if job is None:
            # the same download under another name: one an earlier installation started (its name digested the
            # downloader image and Hub endpoint too). It is this model's; replacing it would download every model
            # again on an upgrade, and leave Ready meanwhile
            inputs = download_inputs(model)
            job = next((o for o in newest_first(others) if job_inputs(o) == inputs), None)
            others = [other for other in others if other is not job]
        if job is not None and (
            made_for_another_claim(job, pvc)
            or (job_outcome(job) == "failed" and tried_for_another_generation(job, model.metadata.generation))
        ):
            # a download into a claim deleted since (this one's volume is empty), or one that failed before the
            # model changed (more storage, a fixed Secret): start it again
            await self._kube.delete(JOBS, namespace, job["metadata"]["name"], uid=job["metadata"].get("uid"))
            job = None
        if job is None and not downloaded:
            try:
                job = await self._kube.create(JOBS, namespace, want)
                await self._events.record(
                    raw,
                    "Normal",
                    "DownloadStarted",
                    f"Started Job {wanted} to download {bounded(model.spec.model, REPO_ID_MAX)}",
                )
            except Conflict:
                job = await self._kube.get(JOBS, namespace, wanted)
                if job is not None and (not belongs_to(job, model) or made_for_another_claim(job, pvc)):
                    job = None  # the one deleted above, on its way out: its deletion's event brings the next step
            except KubeError as exc:
                if exc.temporary:
                    raise
                # an invalid Job (422) waits for a change; a quota (403) is looked at again (`look_again`)
                return None, bounded(str(exc)), exc.status == 403
        # a changed model gets a new Job; the old one (and its pods) goes
        for other in others:
            await self._kube.delete(JOBS, namespace, other["metadata"]["name"])
        return job, None, False

    async def _claim_deleting(self, pvc: dict[str, Any], model: ArksModel) -> ClaimDeleting:
        """What keeps the model's claim that is being deleted: its finalizers, and the model's pods (its
        applications', by their `arks.ai/model` label) that mount it, read at each look while it lasts. The model's
        download Jobs into it are deleted: a download pod keeps the claim for as long as it exists, finished or not,
        and no one else removes a finished Job's pod (the claim stayed for good); a download into a volume on its
        way out is of no use, the new claim gets its own."""
        namespace, selector = model.metadata.namespace, f"{LABEL_MODEL}={model.metadata.name}"
        jobs, _ = await self._kube.list(JOBS, namespace, label_selector=selector)
        deleted: list[str] = []
        for job in jobs:
            inputs = job_inputs(job)
            if not made_for(job, model) or inputs is None or inputs.claim != model.pvc_name():
                continue
            meta = job["metadata"]
            if not meta.get("deletionTimestamp"):
                # its pods go with it (the garbage collector); by uid: a namesake made since is another's
                await self._kube.delete(JOBS, namespace, meta["name"], uid=meta.get("uid"))
            deleted.append(str(meta["name"]))
        pods, _ = await self._kube.list(PODS, namespace, label_selector=selector)
        users = sorted(
            (
                p
                for p in mounting(pods, model.pvc_name())
                if (p["metadata"].get("labels") or {}).get("job-name") not in deleted
            ),
            key=lambda p: str(p["metadata"].get("name", "")),
        )
        apps = {str((p["metadata"].get("labels") or {}).get(LABEL_APPLICATION) or "") for p in users}
        return ClaimDeleting(
            finalizers=tuple(str(f) for f in pvc["metadata"].get("finalizers") or []),
            pods=tuple(str(p["metadata"].get("name", "")) for p in users),
            applications=tuple(sorted(apps - {""})),
            jobs=tuple(deleted),
        )

    async def _job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        pods, _ = await self._kube.list(PODS, namespace, label_selector=f"job-name={job_name}")
        return pods

    async def _termination_message(self, namespace: str, job_name: str) -> str | None:
        """The downloader's own words: the termination message of the job's latest failed pod."""
        for pod in newest_first(await self._job_pods(namespace, job_name)):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (status.get("state") or {}).get("terminated") or {}
                if status.get("name") == DOWNLOAD_CONTAINER and terminated.get("exitCode", 0) != 0:
                    return str(terminated.get("message") or terminated.get("reason") or "")
        return None

    async def _write_status(
        self,
        raw: dict[str, Any],
        phase: str,
        conds: Any,
        download: dict[str, str] | None,
        claimed: dict[str, Any] | None,
    ) -> None:
        meta = raw["metadata"]
        generation = int(meta.get("generation", 0))
        current = raw.get("status") or {}
        now = datetime.now(UTC).replace(microsecond=0)
        existing = [Condition.model_validate(c) for c in current.get("conditions") or []]
        changed = (
            current.get("phase") != phase
            or current.get("observedGeneration") != generation
            or current.get("download") != download
            or current.get("claim") != claimed
        )
        warnings = []
        for cond in conds:
            new = condition(cond.type, cond.ok, cond.reason.value, cond.message, generation)
            if cond.reason in WARNINGS and (is_news(existing, new) or (cond.reason in KEPT and retold(existing, new))):
                warnings.append(cond)  # told once as an Event too: what the user must act on, while the phase holds
            existing, cond_changed = set_condition(existing, new, now)
            changed = changed or cond_changed
        if not changed:
            return
        status: dict[str, Any] = {
            "phase": phase,
            "observedGeneration": generation,
            "conditions": [condition_dict(c) for c in existing],
        }
        if download is not None:  # left out, it goes: this service owns the field (server-side apply)
            status["download"] = download
        if claimed is not None:  # the claim as it is: the planner places by its access modes, not the spec's
            status["claim"] = claimed
        try:
            # onto the version read only: a reconcile of this model by another replica (a Job's or claim's event is
            # partitioned by its own name, not the model's) may have written a newer status from newer reads since
            version = str(meta.get("resourceVersion") or "")
            await self._kube.apply_status(MODELS, meta["namespace"], meta["name"], status, resource_version=version)
        except Conflict as exc:
            raise StatusMoved(str(exc), 409) from exc
        if current.get("phase") != phase:
            failed = phase == "Failed"
            message = next((c.message for c in conds if c.ok is False), "") if failed else f"Model is {phase}"
            await self._events.record(raw, "Warning" if failed else "Normal", phase, message)
        for cond in warnings:
            await self._events.record(raw, "Warning", cond.reason.value, cond.message)
        log.info("model status written", model=f"{meta['namespace']}/{meta['name']}", phase=phase)

    async def _unreadable(self, raw: dict[str, Any], error: str) -> None:
        meta = raw["metadata"]
        log.error("model cannot be read; not loaded", model=f"{meta['namespace']}/{meta['name']}", error=error[:500])
        if meta.get("deletionTimestamp"):
            await self._finalize(raw)
        else:
            await self._warn_again(raw, "ModelUnreadable", error[:1000])

    async def _finalize(self, raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        if MODEL_FINALIZER not in (meta.get("finalizers") or []):
            return
        apps, _ = await self._kube.list(APPLICATIONS, meta["namespace"])
        users = sorted(
            a["metadata"]["name"]
            for a in apps
            if model_name_of(a) == meta["name"] and not a["metadata"].get("deletionTimestamp")
        )
        if users:
            message = f"Deletion waits until no application uses this model; still used by {', '.join(users)}"
            await self._warn_again(raw, "ModelInUse", message)
            return
        await set_finalizer(self._kube, MODELS, raw, MODEL_FINALIZER, present=False)

    async def _warn_again(self, raw: dict[str, Any], reason: str, message: str) -> None:
        """A Warning every look at the model finds while it holds: recorded when it is news or its Event could
        expire soon (`core.retelling`), not at each scheduled round or namespace event."""
        key = (str(raw["metadata"].get("uid", "")), reason)
        now = self._clock()
        if not worth_telling(self._told.get(key), message, now):
            return
        if await self._events.record(raw, "Warning", reason, message):
            self._told[key] = Told(message, now)
            self._told.move_to_end(key)
            while len(self._told) > TOLD_KEPT:
                self._told.popitem(last=False)


STATUS_TRIES = 3
"""Reconciles of a model in a row whose status write found it changed since it was read; then the bus retries."""


class StatusMoved(Conflict):
    """The model changed between the reconcile's read and its status write: it is reconciled again from a read."""


def _only_finalizers_moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether the answer to the finalizer's apply differs from the copy read before it by nothing a reconcile
    reads (a spec edit or another status write landed between is the status write's conflict)."""
    was, now = before.get("metadata") or {}, after.get("metadata") or {}
    return (
        was.get("generation") == now.get("generation")
        and was.get("deletionTimestamp") == now.get("deletionTimestamp")
        and (before.get("status") or {}) == (after.get("status") or {})
    )


def retold(old: list[Condition], new: Condition) -> bool:
    """A condition whose message changed: of a kept claim, another edit the claim does not take."""
    before = next((c for c in old if c.type == new.type), None)
    return before is not None and before.message != new.message
