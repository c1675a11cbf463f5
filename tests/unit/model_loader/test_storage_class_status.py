"""The status of a model whose unbound claim names a StorageClass that does not exist, as a pure function: the class
and the field named, the cause before its effect (the download pod unschedulable), bounded."""

from __future__ import annotations

from typing import Any

import pytest

from arks_common.api.model import ModelPhase
from arks_common.kube.resources import STORAGECLASSES
from arks_model_loader.core.model_status import ModelObserved, ModelReason, compute_model_status
from arks_model_loader.core.storage import unbound_claims_class

UNSCHEDULABLE = "Unschedulable: 0/4 nodes are available: pod has unbound immediate PersistentVolumeClaims."
WAITING = "Waiting for a volume to be bound to qwen-7b (Pending) to download Qwen/Q"


def observed(missing: str | None, phase: str = "Pending", start_problem: str | None = None) -> ModelObserved:
    return ModelObserved(
        model_name="qwen-7b",
        repo_id="Qwen/Q",
        pvc_name="qwen-7b",
        pvc={"metadata": {}, "status": {"phase": phase}},
        pvc_error=None,
        job={"metadata": {"name": "j"}, "status": {}},
        failure_message=None,
        start_problem=start_problem,
        missing_storage_class=missing,
    )


@pytest.mark.parametrize(
    ("observed_", "reason", "says"),
    [
        pytest.param(
            observed("fast-ssd"),
            ModelReason.STORAGE_CLASS_NOT_FOUND,
            f"{WAITING}: its StorageClass 'fast-ssd' (spec.storage.pvc.spec.storageClassName) does not exist",
            id="a class that does not exist is named, with the field",
        ),
        pytest.param(
            observed("fast-ssd", start_problem=UNSCHEDULABLE),
            ModelReason.STORAGE_CLASS_NOT_FOUND,
            "StorageClass 'fast-ssd' (spec.storage.pvc.spec.storageClassName) does not exist",
            id="the missing class before its effect, the download pod unschedulable",
        ),
        pytest.param(observed(None), ModelReason.LOADING, WAITING, id="a class that exists: waiting, as before"),
        pytest.param(
            observed("fast-ssd", phase="Bound"),
            ModelReason.LOADING,
            "Downloading Qwen/Q into qwen-7b",
            id="a bound claim downloads, whatever its class",
        ),
    ],
)
def test_a_claim_of_a_storage_class_that_does_not_exist_says_so(
    observed_: ModelObserved, reason: ModelReason, says: str
) -> None:
    verdict = compute_model_status(observed_)
    assert verdict.phase is ModelPhase.MODEL_LOADING  # creating the class lets it go on: not Failed
    loaded = verdict.conditions[1]
    assert (loaded.ok, loaded.reason) == (False, reason)
    assert says in loaded.message
    assert len(loaded.message) <= 1000


def test_a_storage_class_name_of_any_length_is_a_bounded_message() -> None:
    loaded = compute_model_status(observed("x" * 5000)).conditions[1]
    assert len(loaded.message) <= 1000
    assert "spec.storage.pvc.spec.storageClassName" in loaded.message


@pytest.mark.parametrize(
    ("pvc", "name"),
    [
        pytest.param({"spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}}, "fast", id="pending"),
        pytest.param({"spec": {"storageClassName": "fast"}}, "fast", id="no status yet"),
        pytest.param({"spec": {"storageClassName": "fast"}, "status": {"phase": "Bound"}}, None, id="bound"),
        pytest.param({"spec": {}}, None, id="no class: the default one"),
        pytest.param({"spec": {"storageClassName": ""}}, None, id="empty: volumes made by hand"),
        pytest.param({"spec": {"storageClassName": 7}}, None, id="not a name"),
        pytest.param({"spec": "garbage"}, None, id="no spec"),
    ],
)
def test_only_an_unbound_claim_naming_a_class_is_looked_into(pvc: dict[str, Any], name: str | None) -> None:
    assert unbound_claims_class(pvc) == name


def test_a_storage_class_is_read_by_name_cluster_wide() -> None:
    assert STORAGECLASSES.path("default", "fast-ssd") == "/apis/storage.k8s.io/v1/storageclasses/fast-ssd"
