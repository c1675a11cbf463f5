"""A completed download is recorded in the model's status (`status.download`: what was downloaded, into which
claim): a Ready model stays Ready when its finished Job is removed, and a claim deleted and created anew is not
the old download's, whatever its Job says."""

from __future__ import annotations

from typing import Any

import pytest
from unit.model_loader.cluster import ready

from arks_common.kube.resources import JOBS, MODELS, PVCS
from arks_model_loader.core.storage import CLAIM_UID_ANNOTATION, made_for_another_claim

CLAIM = (PVCS.plural, "default", "qwen-7b")


async def test_a_ready_model_whose_finished_job_is_removed_stays_ready() -> None:
    c = await ready()
    claim_uid = c.kube.store[CLAIM]["metadata"]["uid"]
    assert c.status()["download"]["claimUid"] == claim_uid
    for job in c.jobs():
        del c.kube.store[(JOBS.plural, "default", job)]  # by hand, or a TTL a cluster policy adds to every Job
    c.kube.calls.clear()
    await c.reconcile(times=2)  # the Job's deletion event, and the next
    assert c.status()["phase"] == "Ready"
    assert c.jobs() == []
    assert [call for call in c.kube.calls if call[0] == "create"] == []


async def test_a_claim_deleted_and_created_anew_is_downloaded_into_again() -> None:
    c = await ready()
    old_job = c.jobs()
    del c.kube.store[CLAIM]  # kubectl delete pvc
    await c.reconcile()  # a new, empty claim
    c.bind_claims()
    await c.reconcile()
    new_uid = c.kube.store[CLAIM]["metadata"]["uid"]
    assert c.status()["phase"] == "ModelLoading"
    assert "download" not in c.status()
    (job,) = c.kube.objects(JOBS)
    assert job["metadata"]["annotations"][CLAIM_UID_ANNOTATION] == new_uid
    assert job["metadata"]["name"] == old_job[0]  # the same download, again, into the new claim
    assert "status" not in job
    c.complete_jobs()
    await c.reconcile()
    assert c.status()["phase"] == "Ready"
    assert c.status()["download"]["claimUid"] == new_uid


async def test_a_changed_model_is_not_ready_on_its_old_download() -> None:
    c = await ready()
    c.kube.edit(MODELS, "default", "qwen-7b", lambda m: m["spec"].update(model="Qwen/Qwen2.5-0.5B"))
    await c.reconcile()
    assert c.status()["phase"] == "ModelLoading"
    assert "download" not in c.status()


def _stamped(uid: str, created: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "creationTimestamp": created, "annotations": annotations or {}}}


@pytest.mark.parametrize(
    ("job", "other"),
    [
        (_stamped("j", "2026-01-01T00:00:05Z", {CLAIM_UID_ANNOTATION: "c1"}), False),
        (_stamped("j", "2026-01-01T00:00:05Z", {CLAIM_UID_ANNOTATION: "c0"}), True),
        (_stamped("j", "2026-01-01T00:00:05Z"), False),
        (_stamped("j", "2025-12-31T00:00:00Z"), True),
    ],
    ids=["made for it", "made for a claim since deleted", "from before the annotation", "older than the claim"],
)
def test_whether_a_download_job_was_made_for_this_claim(job: dict[str, Any], other: bool) -> None:
    assert made_for_another_claim(job, _stamped("c1", "2026-01-01T00:00:00Z")) is other
