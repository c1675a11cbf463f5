"""An edit of a model's claim that its existing claim does not take: its StorageClass (fixed once set) and its size
(a claim never shrinks, and grows only while the model is Failed). The model says so (StorageCreated, naming the
field and what to do, and a Warning Event for each edit), writes nothing to the claim, and keeps serving on it."""

from __future__ import annotations

from typing import Any

from unit.model_loader.cluster import NS, cluster, model_dict, ready

from arks_common.api.conditions import MESSAGE_LIMIT
from arks_common.kube.resources import JOBS, MODELS, PVCS


def edit_claim_spec(c: Any, **fields: Any) -> None:
    def change(model: dict[str, Any]) -> None:
        model["spec"]["storage"]["pvc"]["spec"].update(fields)
        model["metadata"]["generation"] += 1

    c.kube.edit(MODELS, NS, "qwen-7b", change)


def claim(c: Any) -> dict[str, Any]:
    stored: dict[str, Any] = c.kube.store[(PVCS.plural, NS, "qwen-7b")]
    return stored


def writes_to_claims(c: Any) -> list[tuple[str, str, str]]:
    return [call for call in c.kube.calls if call[1] == PVCS.plural and call[0] in ("patch", "delete", "apply")]


async def test_a_class_edit_of_a_serving_model_is_said_not_applied_and_it_serves_on() -> None:
    c = await ready()
    uid, jobs = claim(c)["metadata"]["uid"], c.jobs()

    edit_claim_spec(c, storageClassName="fast-ssd")
    await c.reconcile(times=2)

    storage = c.condition("StorageCreated")
    assert (storage["status"], storage["reason"]) == ("True", "StorageClassUnchanged")
    assert storage["message"].startswith("Create model storage successfully(qwen-7b); its StorageClass stays")
    assert "spec.storage.pvc.spec.storageClassName 'fast-ssd' is not applied" in storage["message"]
    assert "give the model a new claim (spec.storage.pvc.name), or delete the model" in storage["message"]
    assert storage["observedGeneration"] == 2
    assert c.status()["phase"] == "Ready"
    assert (claim(c)["metadata"]["uid"], claim(c)["spec"]["storageClassName"]) == (uid, "local-path")
    assert c.jobs() == jobs
    assert not writes_to_claims(c)
    warnings = [e for e in c.events.recorded if e[1] == "StorageClassUnchanged"]
    assert [e[0] for e in warnings] == ["Warning"]  # told once, not at every reconcile

    edit_claim_spec(c, storageClassName="local-path")
    await c.reconcile()
    storage = c.condition("StorageCreated")
    assert (storage["reason"], storage["message"]) == ("CreateSucceeded", "Create model storage successfully(qwen-7b)")


async def test_a_larger_size_of_a_serving_model_is_said_and_not_applied() -> None:
    c = await ready()
    edit_claim_spec(c, resources={"requests": {"storage": "60Gi"}})
    await c.reconcile(times=2)

    storage = c.condition("StorageCreated")
    assert (storage["status"], storage["reason"]) == ("True", "StorageSizeUnchanged")
    assert "its size stays 30Gi" in storage["message"]
    assert "spec.storage.pvc.spec.resources.requests.storage 60Gi is not applied" in storage["message"]
    assert "expand the claim qwen-7b yourself" in storage["message"]
    assert c.status()["phase"] == "Ready"
    assert claim(c)["spec"]["resources"]["requests"]["storage"] == "30Gi"
    assert not writes_to_claims(c)
    assert [e[0] for e in c.events.recorded if e[1] == "StorageSizeUnchanged"] == ["Warning"]


async def test_a_smaller_size_is_said_a_claim_never_shrinks() -> None:
    c = await ready()
    edit_claim_spec(c, resources={"requests": {"storage": "10Gi"}})
    await c.reconcile()
    storage = c.condition("StorageCreated")
    assert storage["reason"] == "StorageSizeUnchanged"
    assert "a claim never shrinks, so spec.storage.pvc.spec.resources.requests.storage 10Gi" in storage["message"]


async def test_a_second_edit_the_claim_does_not_take_is_told_again() -> None:
    c = await ready()
    edit_claim_spec(c, storageClassName="fast-ssd")
    await c.reconcile()
    edit_claim_spec(c, resources={"requests": {"storage": "60Gi"}})
    await c.reconcile(times=2)
    storage = c.condition("StorageCreated")
    assert storage["reason"] == "StorageClassUnchanged"  # the first kept edit's reason
    assert "storageClassName 'fast-ssd'" in storage["message"]
    assert "requests.storage 60Gi" in storage["message"]
    warnings = [e for e in c.events.recorded if e[1] == "StorageClassUnchanged"]
    assert len(warnings) == 2  # each edit told once
    assert "requests.storage 60Gi" in warnings[1][2]


async def test_a_failed_models_larger_size_grows_its_claim_and_is_not_said_kept() -> None:
    c = cluster(model_dict())
    await c.reconcile()
    c.bind_claims()
    await c.reconcile()
    for job in c.kube.objects(JOBS):
        job["status"] = {"failed": 4, "conditions": [{"type": "Failed", "status": "True", "reason": "Full"}]}
    await c.reconcile()
    assert c.status()["phase"] == "Failed"

    edit_claim_spec(c, resources={"requests": {"storage": "60Gi"}})
    await c.reconcile()
    assert claim(c)["spec"]["resources"]["requests"]["storage"] == "60Gi"
    assert c.condition("StorageCreated")["reason"] == "CreateSucceeded"


async def test_a_huge_class_and_size_are_said_bounded() -> None:
    c = await ready()
    edit_claim_spec(c, storageClassName="x" * 100_000, resources={"requests": {"storage": "9" * 5000}})
    await c.reconcile()
    storage = c.condition("StorageCreated")
    assert storage["reason"] == "StorageClassUnchanged"
    assert len(storage["message"]) <= MESSAGE_LIMIT
    assert all(len(e[2]) <= MESSAGE_LIMIT for e in c.events.recorded)
    assert c.status()["phase"] == "Ready"
