"""A claim's access modes cannot change once it exists. An edit of `spec.storage.pvc.spec.accessModes` after that
is not applied: the model says so (StorageCreated, naming the field, and a Warning Event once), records the modes its
claim really has (`status.claim`, what the planner places by), and keeps serving on the same claim and data."""

from __future__ import annotations

from typing import Any

from unit.model_loader.cluster import NS, cluster, model_dict, ready

from arks_common.kube.resources import MODELS, PVCS

FIELD = "spec.storage.pvc.spec.accessModes"


def edit_access_modes(c: Any, modes: list[str]) -> None:
    def change(model: dict[str, Any]) -> None:
        model["spec"]["storage"]["pvc"]["spec"]["accessModes"] = modes
        model["metadata"]["generation"] += 1

    c.kube.edit(MODELS, NS, "qwen-7b", change)


async def test_an_edit_of_a_claims_access_modes_is_said_not_applied_and_the_model_keeps_serving() -> None:
    c = await ready()
    claim_uid = c.kube.store[(PVCS.plural, NS, "qwen-7b")]["metadata"]["uid"]
    jobs = c.jobs()

    edit_access_modes(c, ["ReadWriteMany"])
    await c.reconcile(times=2)

    storage = c.condition("StorageCreated")
    assert (storage["status"], storage["reason"]) == ("True", "AccessModesUnchanged")
    assert storage["message"].startswith("Create model storage successfully(qwen-7b); its access modes stay")
    assert f"{FIELD} ['ReadWriteMany'] is not applied" in storage["message"]
    assert "give the model a new claim (spec.storage.pvc.name)" in storage["message"]
    assert storage["observedGeneration"] == 2
    # the claim the planner places by is the one that exists, whatever the spec says now
    assert c.status().get("claim") == {"name": "qwen-7b", "accessModes": ["ReadWriteOnce"]}
    # not failed, nothing downloaded again, the user's data where it was
    assert c.status()["phase"] == "Ready"
    assert c.condition("Ready")["status"] == "True"
    assert c.kube.store[(PVCS.plural, NS, "qwen-7b")]["metadata"]["uid"] == claim_uid
    assert c.kube.store[(PVCS.plural, NS, "qwen-7b")]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert c.jobs() == jobs
    assert not [call for call in c.kube.calls if call[0] == "delete" and call[1] == PVCS.plural]
    warnings = [e for e in c.events.recorded if e[1] == "AccessModesUnchanged"]
    assert [e[0] for e in warnings] == ["Warning"]  # told once, not at every reconcile
    assert FIELD in warnings[0][2]


async def test_the_spec_edited_back_to_the_claims_modes_is_as_before() -> None:
    c = await ready()
    edit_access_modes(c, ["ReadWriteMany"])
    await c.reconcile()
    edit_access_modes(c, ["ReadWriteOnce"])
    await c.reconcile()
    storage = c.condition("StorageCreated")
    assert (storage["reason"], storage["message"]) == ("CreateSucceeded", "Create model storage successfully(qwen-7b)")


async def test_the_same_modes_in_another_order_are_no_edit() -> None:
    doc = model_dict()
    doc["spec"]["storage"]["pvc"]["spec"]["accessModes"] = ["ReadWriteOnce", "ReadOnlyMany"]
    c = cluster(doc)
    await c.reconcile()
    edit_access_modes(c, ["ReadOnlyMany", "ReadWriteOnce"])
    await c.reconcile()
    assert c.condition("StorageCreated")["reason"] == "CreateSucceeded"


async def test_a_claim_the_user_made_with_other_modes_is_the_one_that_counts() -> None:
    c = cluster(model_dict())  # the spec asks ReadWriteOnce
    c.kube.put(
        PVCS,
        {
            "metadata": {"name": "qwen-7b", "namespace": NS},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Ti"}}},
        },
    )
    await c.reconcile()
    assert c.condition("StorageCreated")["reason"] == "AccessModesUnchanged"
    assert c.status().get("claim") == {"name": "qwen-7b", "accessModes": ["ReadWriteMany"]}


async def test_no_claim_no_record() -> None:
    c = cluster(model_dict(claim="other"))
    c.kube.put(
        PVCS,
        {
            "metadata": {
                "name": "other",
                "namespace": NS,
                "ownerReferences": [{"kind": "StatefulSet", "name": "db", "uid": "u", "controller": True}],
            },
            "spec": {"accessModes": ["ReadWriteMany"]},
        },
    )
    await c.reconcile()  # another controller's claim is not the model's: nothing recorded of it
    assert c.status()["phase"] == "Failed"
    assert "claim" not in c.status()
