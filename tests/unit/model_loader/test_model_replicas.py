"""Two model-loader replicas may reconcile one model at once: a Job's or claim's event is partitioned by the Job's
or claim's own name, not its model's, so it may reach another replica than the model's own events. A status judged
from older reads never lands over a newer one: the write goes onto the version of the model it read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from unit.model_loader.cluster import CONFIG, LOCAL_PATH, NS, Cluster, model_dict

from arks_common.kube.resources import JOBS, MODELS, STORAGECLASSES
from arks_model_loader.models import ModelReconciler
from support.memory_kube import MemoryEvents, MemoryKube


class PauseOnJobRead(MemoryKube):
    """Runs `meanwhile` once, right after a read of a Job: another replica's reconcile between this one's reads and
    its write."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[None]] | None = None

    async def get(self, res: Any, namespace: str, name: str) -> dict[str, Any] | None:
        found = await super().get(res, namespace, name)
        if res.plural == JOBS.plural and self.meanwhile is not None:
            hook, self.meanwhile = self.meanwhile, None
            await hook()
        return found


async def test_a_reconcile_from_older_reads_does_not_write_over_a_newer_status() -> None:
    kube, events = PauseOnJobRead(), MemoryEvents()
    kube.put(STORAGECLASSES, LOCAL_PATH)
    kube.put(MODELS, model_dict())
    model_replica = Cluster(kube, events, ModelReconciler(kube.as_kube(), events.as_recorder(), CONFIG))
    job_replica = ModelReconciler(kube.as_kube(), events.as_recorder(), CONFIG)
    await model_replica.reconcile()  # the claim
    await model_replica.reconcile()  # the download Job, waiting for a volume
    assert model_replica.condition("ModelLoaded")["message"].startswith("Waiting for a volume to be bound")
    model_replica.bind_claims()

    async def the_job_completes_and_its_event_is_handled_elsewhere() -> None:
        model_replica.complete_jobs()
        await job_replica.reconcile(NS, "qwen-7b")
        assert model_replica.status()["phase"] == "Ready"

    kube.meanwhile = the_job_completes_and_its_event_is_handled_elsewhere
    # the model's own replica, on the claim's binding, reads the Job while it still runs ("Downloading")
    await model_replica.reconcile()
    assert model_replica.status()["phase"] == "Ready"
    assert [reason for _, reason, _ in events.recorded].count("ModelLoading") == 1  # no flip back to loading


async def test_a_new_models_first_reconcile_writes_its_status_onto_its_own_finalizer() -> None:
    kube, events = MemoryKube(), MemoryEvents()
    kube.put(STORAGECLASSES, LOCAL_PATH)
    kube.put(MODELS, model_dict())
    c = Cluster(kube, events, ModelReconciler(kube.as_kube(), events.as_recorder(), CONFIG))
    await c.reconcile()
    assert c.status()["phase"] == "StorageCreating"
    assert [call for call in kube.calls if call[:2] == ("apply_status", MODELS.plural)] == [
        ("apply_status", MODELS.plural, "qwen-7b")
    ]  # once: the finalizer's own new version is no conflict
