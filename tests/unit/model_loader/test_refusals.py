"""A claim or download Job the API server refuses for good (422 invalid, 403 a quota or LimitRange) is the model's
failure in the server's words, and the applications of the model are told; a name no Secret can have is refused
by the CRD itself, naming the field."""

from __future__ import annotations

import pytest
from unit.model_loader.cluster import application_dict, cluster, model_dict

from arks_common.bus.consumer import TemporaryError
from arks_common.crdgen import MODEL_CRD
from arks_common.events.payloads import ObjectKind
from arks_common.kube.client import Invalid, KubeError
from arks_common.kube.resources import APPLICATIONS, JOBS, MODELS, PVCS
from support.crd_validation import validate

JOB_REFUSED = Invalid(
    'create Job in default: Job.batch "qwen-7b-download-1a2b3c4d" is invalid: spec.template.spec.containers[0]'
    '.env[1].valueFrom.secretKeyRef.name: Invalid value: "HF-Token": a lowercase RFC 1123 subdomain must ...',
    422,
)
QUOTA = KubeError(
    'create PersistentVolumeClaim in default: persistentvolumeclaims "qwen-7b" is forbidden: exceeded quota: '
    "storage, requested: requests.storage=30Ti, used: requests.storage=0, limited: requests.storage=1Ti",
    403,
)


async def test_a_refused_download_job_is_a_failed_model_and_its_applications_are_told_why() -> None:
    c = cluster(model_dict(token="HF-Token"))
    c.kube.put(APPLICATIONS, application_dict("qwen-7b"))
    await c.reconcile()  # the claim
    c.bind_claims()
    c.kube.refuse[JOBS.plural] = JOB_REFUSED
    await c.tell(ObjectKind.MODEL, c.kube.store[(MODELS.plural, "default", "qwen-7b")])
    assert c.status()["phase"] == "Failed"
    assert "secretKeyRef.name: Invalid value" in c.condition("ModelLoaded")["message"]
    assert c.condition("StorageCreated")["status"] == "True"
    loaded = c.loaded()
    assert loaded["reason"] == "ModelLoadFailed"
    assert "the download Job was refused" in loaded["message"]


async def test_a_claim_refused_by_a_quota_is_a_failed_model_in_the_servers_words() -> None:
    c = cluster(model_dict())
    c.kube.refuse[PVCS.plural] = QUOTA
    await c.reconcile()
    assert c.status()["phase"] == "Failed"
    assert "exceeded quota" in c.condition("StorageCreated")["message"]


async def test_a_server_that_cannot_take_the_job_now_is_retried_not_failed() -> None:
    c = cluster(model_dict())
    await c.reconcile()
    c.bind_claims()
    c.kube.refuse[JOBS.plural] = KubeError("create Job in default: no answer within 30 s")
    with pytest.raises(TemporaryError):  # the consumer retries it
        await c.reconcile()
    assert c.status()["phase"] == "StorageCreating"


async def test_a_long_refusal_is_told_bounded() -> None:
    c = cluster(model_dict())
    c.kube.refuse[PVCS.plural] = Invalid("x" * 50_000, 422)
    await c.reconcile()
    assert len(c.condition("StorageCreated")["message"]) < 1200


@pytest.mark.parametrize(
    ("secret", "refused"),
    [("hf-token", False), ("hf.token-2", False), ("HF-Token", True), ("other-ns/hf-token", True), ("", False)],
)
def test_the_crd_refuses_a_token_secret_name_no_secret_can_have(secret: str, refused: bool) -> None:
    doc = model_dict()
    doc["spec"]["source"]["huggingface"] = {"tokenSecretRef": secret}
    errors = validate(MODEL_CRD.to_k8s(), doc)
    assert bool(errors) is refused, errors
    assert all("tokenSecretRef" in e for e in errors)


async def test_the_applications_of_a_model_whose_claim_was_refused_are_told_the_refusal() -> None:
    c = cluster(model_dict())
    c.kube.put(APPLICATIONS, application_dict("qwen-7b"))
    c.kube.refuse[PVCS.plural] = Invalid(
        'PersistentVolumeClaim "qwen-7b" is invalid: spec.accessModes: Unsupported value: "RWX"', 422
    )
    await c.tell(ObjectKind.MODEL, c.kube.store[(MODELS.plural, "default", "qwen-7b")])
    loaded = c.loaded()
    assert loaded["reason"] == "ModelLoadFailed"
    assert 'spec.accessModes: Unsupported value: "RWX"' in loaded["message"]


async def test_a_quota_is_looked_at_again_and_an_invalid_object_waits_for_a_change() -> None:
    """What forbids a claim or Job (a quota, a LimitRange) may change by itself; an invalid one only by an edit."""
    c = cluster(model_dict())
    c.kube.refuse[PVCS.plural] = QUOTA
    assert await c.models.reconcile("default", "qwen-7b"), "a claim refused by a quota is not looked at again"
    del c.kube.refuse[PVCS.plural]
    assert not await c.models.reconcile("default", "qwen-7b")  # the claim is made once the quota lets it
    c.bind_claims()
    c.kube.refuse[JOBS.plural] = KubeError(QUOTA.args[0].replace("persistentvolumeclaims", "jobs"), 403)
    assert await c.models.reconcile("default", "qwen-7b"), "a Job refused by a quota is not looked at again"
    c.kube.refuse[JOBS.plural] = JOB_REFUSED
    assert not await c.models.reconcile("default", "qwen-7b")
    assert c.status()["phase"] == "Failed"
