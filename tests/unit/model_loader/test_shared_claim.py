"""Two ArksModels cannot share one claim: the second one to name it is Failed, saying which model owns it,
instead of waiting in StorageCreating for a claim nothing will free."""

from __future__ import annotations

from unit.model_loader.cluster import cluster, model_dict

from arks_common.kube.resources import PVCS


async def test_a_claim_held_by_another_live_model_is_the_second_models_failure() -> None:
    c = cluster(model_dict("a", claim="shared"), model_dict("b", claim="shared"))
    await c.reconcile("a")
    c.bind_claims()
    await c.reconcile("a")
    await c.reconcile("b", times=2)
    assert c.status("a")["phase"] == "ModelLoading"
    assert c.status("b")["phase"] == "Failed"
    message = c.condition("StorageCreated", "b")["message"]
    assert message.startswith("Create model storage failed(shared): the claim belongs to ArksModel a")
    assert [j for j in c.jobs() if j.startswith("b-")] == []


async def test_a_claim_of_a_deleted_namesake_on_its_way_out_is_waited_for() -> None:
    c = cluster(model_dict("a"))
    await c.reconcile("a")
    c.kube.edit(PVCS, "default", "a", lambda p: p["metadata"]["ownerReferences"][0].update(uid="the-deleted-namesake"))
    await c.reconcile("a")
    assert c.status("a")["phase"] == "StorageCreating"
