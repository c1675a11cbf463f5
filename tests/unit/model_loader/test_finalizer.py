"""A deleted model waits (its `arks.ai/model-in-use` finalizer) until no application uses it, and is released as
soon as the last one stops using it: deleted, or moved to another model by an edit."""

from __future__ import annotations

from unit.model_loader.cluster import Cluster, application_dict, model_dict, ready

from arks_common.events.payloads import ObjectKind
from arks_common.kube.resources import APPLICATIONS, MODELS
from arks_model_loader.models import MODEL_FINALIZER

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
