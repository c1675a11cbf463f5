"""A repo id or claim name longer than any the Hub or Kubernetes takes: refused by the CRD naming the field, and one
stored before that rule is quoted cut in every condition (the model's and each application's `Loaded`), so its status
stays small enough to store and says what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from unit.model_loader.cluster import Cluster, application_dict, cluster, model_dict

from arks_common.api.conditions import MESSAGE_LIMIT
from arks_common.crdgen import MODEL_CRD
from arks_common.events.payloads import ObjectKind
from arks_common.kube.client import Invalid
from arks_common.kube.resources import APPLICATIONS, MODELS, PVCS
from support.crd_validation import validate

HUGE = 600_000
HUB_PART = 96
"""huggingface_hub 2.4.0 `validate_repo_id`: a namespace and a name of at most 96 characters each."""


def _with(repo_id: str | None = None, claim: str | None = None) -> dict[str, Any]:
    doc = model_dict()
    if repo_id is not None:
        doc["spec"]["model"] = repo_id
    if claim is not None:
        doc["spec"]["storage"]["pvc"]["name"] = claim
    return doc


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_with(repo_id="o" * HUB_PART + "/" + "n" * (HUB_PART + 1)), "spec.model"),
        (_with(repo_id="x" * HUGE), "spec.model"),
        (_with(claim="c" * 254), "spec.storage.pvc.name"),
        (_with(claim="Qwen_7B"), "spec.storage.pvc.name"),
    ],
    ids=["a repo id past the hub's 193", "600 KB of repo id", "a claim name past 253", "a claim name no claim has"],
)
def test_the_crd_refuses_it_naming_the_field(doc: dict[str, Any], field: str) -> None:
    errors = validate(MODEL_CRD.to_k8s(), doc)
    assert errors, "accepted"
    assert all(e.startswith(field) for e in errors), errors


@pytest.mark.parametrize(
    "doc",
    [_with(repo_id="o" * HUB_PART + "/" + "n" * HUB_PART), _with(claim="c" * 253), _with(claim="")],
    ids=["the longest hub repo id", "the longest claim name", "no claim name (the model's)"],
)
def test_the_crd_takes_the_longest_names_there_are(doc: dict[str, Any]) -> None:
    assert validate(MODEL_CRD.to_k8s(), doc) == []


def _largest(c: Cluster) -> int:
    return max(len(cond["message"]) for cond in c.status().get("conditions") or [])


async def test_a_huge_repo_id_stored_before_the_rule_is_quoted_cut_on_the_model_and_its_applications() -> None:
    c = cluster(_with(repo_id="x" * HUGE))
    c.kube.put(APPLICATIONS, application_dict("qwen-7b"))
    await c.reconcile()
    c.bind_claims()
    await c.reconcile()  # the download Job
    await c.tell(ObjectKind.APPLICATION, c.kube.store[(APPLICATIONS.plural, "default", "chat")])
    assert c.status()["phase"] == "ModelLoading"
    loading = c.condition("ModelLoaded")["message"]
    assert loading.startswith("Downloading xxx"), loading[:300]
    assert loading.endswith("… into qwen-7b"), loading[-300:]
    assert _largest(c) <= MESSAGE_LIMIT
    assert len(c.loaded()["message"]) <= MESSAGE_LIMIT
    assert all(len(message) <= MESSAGE_LIMIT for _, _, message in c.events.recorded)
    assert len(json.dumps(c.status())) < 4 * MESSAGE_LIMIT


async def test_a_huge_claim_name_stored_before_the_rule_fails_the_model_in_the_servers_words_cut() -> None:
    claim = "c" * HUGE
    c = cluster(_with(claim=claim))
    c.kube.put(APPLICATIONS, application_dict("qwen-7b"))
    c.kube.refuse[PVCS.plural] = Invalid(
        f'PersistentVolumeClaim "{claim}" is invalid: metadata.name: Invalid value: "{claim}": must be no more than '
        "253 characters",
        422,
    )
    await c.tell(ObjectKind.MODEL, c.kube.store[(MODELS.plural, "default", "qwen-7b")])
    assert c.status()["phase"] == "Failed"
    failed = c.condition("StorageCreated")["message"]
    assert failed.startswith("Create model storage failed(ccc"), failed[:300]
    assert "c…): PersistentVolumeClaim" in failed, failed[:400]
    assert _largest(c) <= MESSAGE_LIMIT
    assert c.loaded()["reason"] == "ModelLoadFailed"
    assert len(c.loaded()["message"]) <= MESSAGE_LIMIT
