"""Two ArksModels cannot share one claim: the second one to name it is Failed, saying which model owns it,
instead of waiting in StorageCreating for a claim nothing will free."""

from __future__ import annotations

from unit.model_loader.cluster import cluster, model_dict

from arks_common.kube.resources import JOBS, PVCS


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


async def test_a_claim_another_controller_owns_is_never_written_by_a_download() -> None:
    """A StatefulSet's volume named as the model's claim: the download pod would mount it read-write and its fsGroup
    would change the owner of every file in it."""
    c = cluster(model_dict("qwen-7b", claim="data-postgres-0"))
    statefulset = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "postgres", "uid": "s1", "controller": True}
    c.kube.put(
        PVCS,
        {
            "metadata": {"name": "data-postgres-0", "namespace": "default", "ownerReferences": [statefulset]},
            "spec": {"accessModes": ["ReadWriteOnce"]},
            "status": {"phase": "Bound"},
        },
    )
    await c.reconcile("qwen-7b", times=2)
    assert c.status("qwen-7b")["phase"] == "Failed"
    message = c.condition("StorageCreated", "qwen-7b")["message"]
    assert "the claim belongs to StatefulSet postgres" in message
    assert c.jobs() == []


async def test_the_download_changes_a_volumes_group_only_where_its_root_lacks_it() -> None:
    c = cluster(model_dict("qwen-7b"))
    await c.reconcile("qwen-7b")
    c.bind_claims()
    await c.reconcile("qwen-7b")
    [job] = c.kube.objects(JOBS)
    assert job["spec"]["template"]["spec"]["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
