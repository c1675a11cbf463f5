"""A deleted model waits (its `arks.ai/model-in-use` finalizer) until no application uses it, and is released as
soon as the last one stops using it: deleted, or moved to another model by an edit."""

from __future__ import annotations

import asyncio

from unit.model_loader.cluster import Cluster, application_dict, model_dict, ready

from arks_common.events.payloads import ObjectKind
from arks_common.kube.resources import APPLICATIONS, MODELS, PVCS
from arks_model_loader.models import MODEL_FINALIZER, ModelReconciler
from support.waiting import eventually

KEY = (MODELS.plural, "default", "qwen-7b")


async def _deleted_while_used() -> Cluster:
    c = await ready()
    c.kube.put(MODELS, model_dict("other"))
    await c.tell(ObjectKind.APPLICATION, c.kube.put(APPLICATIONS, application_dict("qwen-7b")))
    c.kube.edit(MODELS, "default", "qwen-7b", lambda m: m["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z"))
    await c.tell(ObjectKind.MODEL, c.kube.store[KEY])
    assert c.kube.store[KEY]["metadata"]["finalizers"] == [MODEL_FINALIZER]
    assert ("Warning", "ModelInUse") in [e[:2] for e in c.events.recorded]
    return c


async def test_an_application_moved_to_another_model_releases_the_deleting_model() -> None:
    c = await _deleted_while_used()
    await c.tell(ObjectKind.APPLICATION, c.kube.put(APPLICATIONS, application_dict("other", generation=2)))
    assert KEY not in c.kube.store


async def test_an_application_deleted_releases_the_deleting_model() -> None:
    c = await _deleted_while_used()
    app = c.kube.store.pop((APPLICATIONS.plural, "default", "chat"))
    await c.tell(ObjectKind.APPLICATION, app, deleted=True)
    assert KEY not in c.kube.store


async def test_an_application_still_using_it_keeps_the_deleting_model() -> None:
    c = await _deleted_while_used()
    await c.tell(ObjectKind.APPLICATION, c.kube.put(APPLICATIONS, application_dict("qwen-7b", generation=2)))
    assert c.kube.store[KEY]["metadata"]["finalizers"] == [MODEL_FINALIZER]


async def test_an_application_deleted_without_its_event_releases_the_deleting_model_on_the_next_look() -> None:
    """The application's deletion is never told (deleted while the watcher was down, no finalizer holding it): the
    scheduled reconcile of every model releases the model all the same."""
    c = await _deleted_while_used()
    c.kube.store.pop((APPLICATIONS.plural, "default", "chat"))  # gone, and no event says so
    assert c.kube.store[KEY]["metadata"]["finalizers"] == [MODEL_FINALIZER]
    await c.models.resync([("default", "qwen-7b")])
    assert KEY not in c.kube.store


async def test_the_scheduled_look_keeps_a_deleting_model_still_in_use() -> None:
    c = await _deleted_while_used()
    await c.models.resync([("default", "qwen-7b")])
    assert c.kube.store[KEY]["metadata"]["finalizers"] == [MODEL_FINALIZER]


async def test_a_claim_deleted_without_its_event_is_made_again_on_the_next_scheduled_reconcile() -> None:
    """A Ready model's claim deleted while the watcher was down: no event tells the model-loader, and the model would
    stay Ready on a claim that is gone. The scheduled reconcile makes the claim again (and the model downloads)."""
    c = await ready()
    claim = (PVCS.plural, "default", "qwen-7b")
    c.kube.store.pop(claim)  # gone, and no event says so
    await c.models.resync([("default", "qwen-7b")])
    assert claim in c.kube.store
    assert c.status()["phase"] != "Ready"


async def test_the_per_model_locks_are_dropped_once_no_reconcile_holds_them() -> None:
    """One reconcile of a model at a time, and no lock kept for a model name after its reconciles end (names come
    and go: a lock per name ever seen would grow for good)."""
    reconciler = ModelReconciler(None, None, None)  # type: ignore[arg-type]
    running: list[str] = []
    most = 0
    release = asyncio.Event()

    async def fake(namespace: str, name: str) -> bool:
        nonlocal most
        running.append(name)
        most = max(most, running.count(name))
        await release.wait()
        running.remove(name)
        return False

    reconciler._reconcile = fake  # type: ignore[method-assign]
    tasks = [asyncio.create_task(reconciler.reconcile("ns", n)) for n in ("a", "a", "a", "b")]
    await eventually(lambda: sorted(running) == ["a", "b"], what="one reconcile of each model running")
    assert len(reconciler._locks) == 2
    release.set()
    await asyncio.gather(*tasks)
    assert most == 1
    assert reconciler._locks == {}
