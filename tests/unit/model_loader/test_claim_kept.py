"""What of the spec's claim an existing claim does not take (its StorageClass, its size) and the claim that waits for
a default StorageClass the cluster does not have, as pure functions: which is which, and what the status says
(naming the field and what to do, bounded)."""

from __future__ import annotations

from typing import Any

import pytest
from unit.model_loader.cluster import model_dict

from arks_common.api.conditions import MESSAGE_LIMIT
from arks_common.api.model import ArksModel, ModelPhase
from arks_model_loader.core.model_status import ModelObserved, ModelReason, compute_model_status
from arks_model_loader.core.storage import (
    class_to_set,
    is_default_class,
    kept_size,
    kept_storage_class,
    waits_for_a_default_class,
)

OWNER = [{"kind": "ArksModel", "name": "qwen-7b", "uid": "u1", "controller": True}]


def model(**claim_spec: Any) -> ArksModel:
    """The guide's model; a `None` value leaves that field of its claim spec out."""
    doc = model_dict()
    doc["metadata"]["uid"] = "u1"
    spec = doc["spec"]["storage"]["pvc"]["spec"]
    for key, value in claim_spec.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return ArksModel.model_validate(doc)


def pvc(
    storage_class: str | None = "local-path", phase: str = "Bound", size: str = "30Gi", owned: bool = True, **meta: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    metadata = {"name": "qwen-7b", "ownerReferences": OWNER if owned else [], **meta}
    return {"metadata": metadata, "spec": spec, "status": {"phase": phase}}


@pytest.mark.parametrize(
    ("spec_class", "claim", "kept"),
    [
        pytest.param("local-path", pvc(), None, id="the same class is no edit"),
        pytest.param("fast-ssd", pvc(), ("local-path", "fast-ssd"), id="another class than the claim's is kept"),
        pytest.param(None, pvc(), None, id="a spec naming no class asks for the default the claim got"),
        pytest.param("", pvc(None), None, id="no class and an empty class are alike"),
        pytest.param("fast-ssd", pvc(""), ("", "fast-ssd"), id="a claim of no class at all keeps it"),
        pytest.param("fast-ssd", pvc(None), (None, "fast-ssd"), id="a claim without a class, bound, keeps none"),
        pytest.param(
            "fast-ssd",
            pvc(None, annotations={"volume.beta.kubernetes.io/storage-class": "old"}),
            ("old", "fast-ssd"),
            id="an old claim's class is its beta annotation",
        ),
        pytest.param("x" * 5000, pvc(), ("local-path", "x" * 253), id="a huge class name is cut to a name's length"),
    ],
)
def test_a_class_the_claim_does_not_have_is_kept(
    spec_class: str | None, claim: dict[str, Any], kept: tuple[str | None, str] | None
) -> None:
    assert kept_storage_class(model(storageClassName=spec_class), claim) == kept


@pytest.mark.parametrize(
    ("spec_class", "claim", "to_set"),
    [
        pytest.param("fast-ssd", pvc(None, phase="Pending"), "fast-ssd", id="an unbound claim without one takes it"),
        pytest.param("fast-ssd", pvc(None), None, id="a bound claim does not"),
        pytest.param("fast-ssd", pvc(None, phase="Pending", owned=False), None, id="nor a claim the user made"),
        pytest.param("fast-ssd", pvc("local-path", phase="Pending"), None, id="nor one with a class"),
        pytest.param("", pvc(None, phase="Pending"), None, id="an empty class is none to set"),
        pytest.param(None, pvc(None, phase="Pending"), None, id="nor is a spec naming none"),
    ],
)
def test_only_an_unbound_claim_of_the_models_own_without_a_class_takes_one(
    spec_class: str | None, claim: dict[str, Any], to_set: str | None
) -> None:
    assert class_to_set(model(storageClassName=spec_class), claim) == to_set


@pytest.mark.parametrize(
    ("spec_size", "claim_size", "kept"),
    [
        pytest.param("30Gi", "30Gi", None, id="the same size is no edit"),
        pytest.param("32212254720", "30Gi", None, id="sizes compare by value"),
        pytest.param("60Gi", "30Gi", ("30Gi", "60Gi", True), id="a larger size is kept, larger"),
        pytest.param("10Gi", "30Gi", ("30Gi", "10Gi", False), id="a smaller size is kept, smaller"),
        pytest.param("60Gi", "thirty", None, id="a claim size that cannot be read is no edit"),
    ],
)
def test_a_size_the_claim_does_not_have_is_kept(
    spec_size: str, claim_size: str, kept: tuple[str, str, bool] | None
) -> None:
    assert kept_size(model(resources={"requests": {"storage": spec_size}}), pvc(size=claim_size)) == kept


@pytest.mark.parametrize(
    ("claim", "waits"),
    [
        pytest.param(pvc(None, phase="Pending"), True, id="an unbound claim without a class waits for a default"),
        pytest.param(pvc(None, phase="Bound"), False, id="a bound one does not"),
        pytest.param(pvc("", phase="Pending"), False, id="nor one of no class at all (volumes made by hand)"),
        pytest.param(pvc("local-path", phase="Pending"), False, id="nor one naming a class"),
    ],
)
def test_which_claim_waits_for_a_default_class(claim: dict[str, Any], waits: bool) -> None:
    assert waits_for_a_default_class(claim) is waits


@pytest.mark.parametrize(
    ("annotations", "default"),
    [
        ({"storageclass.kubernetes.io/is-default-class": "true"}, True),
        ({"storageclass.beta.kubernetes.io/is-default-class": "true"}, True),
        ({"storageclass.kubernetes.io/is-default-class": "false"}, False),
        ({"storageclass.kubernetes.io/is-default-class": "True"}, False),
        ({}, False),
    ],
)
def test_a_default_class_is_the_one_annotated_true(annotations: dict[str, str], default: bool) -> None:
    assert is_default_class({"metadata": {"name": "c", "annotations": annotations}}) is default


def observed(phase: str = "Bound", **seen: Any) -> ModelObserved:
    fields: dict[str, Any] = {
        "model_name": "qwen-7b",
        "repo_id": "Qwen/Q",
        "pvc_name": "qwen-7b",
        "pvc": {"metadata": {}, "status": {"phase": phase}},
        "pvc_error": None,
        "job": {"metadata": {"name": "j"}, "status": {}},
        "failure_message": None,
    }
    return ModelObserved(**{**fields, **seen})


STORED = "Create model storage successfully(qwen-7b); "


@pytest.mark.parametrize(
    ("seen", "reason", "says"),
    [
        pytest.param(
            {"storage_class_kept": ("local-path", "fast-ssd")},
            ModelReason.STORAGE_CLASS_UNCHANGED,
            f"{STORED}its StorageClass stays 'local-path': a claim's class cannot change once it is set, so "
            "spec.storage.pvc.spec.storageClassName 'fast-ssd' is not applied; to use that class, give the model a "
            "new claim (spec.storage.pvc.name), or delete the model and create it again",
            id="a class edit names the field, the class kept and what to do",
        ),
        pytest.param(
            {"storage_class_kept": (None, "fast-ssd")},
            ModelReason.STORAGE_CLASS_UNCHANGED,
            f"{STORED}its StorageClass stays none: a bound claim, or one the model did not make, keeps its lack",
            id="a claim without a class keeps none",
        ),
        pytest.param(
            {"size_kept": ("30Gi", "60Gi", True)},
            ModelReason.STORAGE_SIZE_UNCHANGED,
            f"{STORED}its size stays 30Gi: the model-loader grows a claim it made only while the model is Failed",
            id="a larger size says when a claim grows",
        ),
        pytest.param(
            {"size_kept": ("30Gi", "60Gi", True)},
            ModelReason.STORAGE_SIZE_UNCHANGED,
            "spec.storage.pvc.spec.resources.requests.storage 60Gi is not applied; to grow it now, expand the claim "
            "qwen-7b yourself or give the model a new claim (spec.storage.pvc.name)",
            id="a larger size says what to do",
        ),
        pytest.param(
            {"size_kept": ("30Gi", "10Gi", False)},
            ModelReason.STORAGE_SIZE_UNCHANGED,
            f"{STORED}its size stays 30Gi: a claim never shrinks, so "
            "spec.storage.pvc.spec.resources.requests.storage 10Gi is not applied",
            id="a smaller size: a claim never shrinks",
        ),
        pytest.param(
            {"access_modes_kept": (("ReadWriteOnce",), ("ReadWriteMany",)), "storage_class_kept": ("a", "b")},
            ModelReason.ACCESS_MODES_UNCHANGED,
            "to change them, give the model a new claim (spec.storage.pvc.name); its StorageClass stays 'a'",
            id="edits kept together: the first's reason, every one told",
        ),
    ],
)
def test_a_kept_claim_is_said_on_storage_created_and_the_model_serves_on(
    seen: dict[str, Any], reason: ModelReason, says: str
) -> None:
    verdict = compute_model_status(observed(**seen, downloaded=True, job=None))
    storage = verdict.conditions[0]
    assert (storage.ok, storage.reason) == (True, reason)
    assert says in storage.message
    assert verdict.phase is ModelPhase.READY


def test_a_huge_kept_class_is_bounded() -> None:
    verdict = compute_model_status(
        observed(storage_class_kept=("y" * 253, "x" * 253), size_kept=("9" * 63,) * 2 + (True,))
    )
    assert len(verdict.conditions[0].message) <= MESSAGE_LIMIT


@pytest.mark.parametrize(
    ("seen", "reason"),
    [
        pytest.param({"phase": "Pending", "no_default_class": True}, ModelReason.NO_DEFAULT_STORAGE_CLASS, id="said"),
        pytest.param(
            {"phase": "Pending", "no_default_class": True, "start_problem": "Unschedulable: 0/4 nodes are available"},
            ModelReason.NO_DEFAULT_STORAGE_CLASS,
            id="the cause before its effect, the download pod unschedulable",
        ),
        pytest.param({"phase": "Bound", "no_default_class": True}, ModelReason.LOADING, id="a bound claim downloads"),
        pytest.param({"phase": "Pending"}, ModelReason.LOADING, id="a default class: waiting, as before"),
    ],
)
def test_a_claim_without_a_class_in_a_cluster_without_a_default_says_so(
    seen: dict[str, Any], reason: ModelReason
) -> None:
    verdict = compute_model_status(observed(**seen))
    loaded = verdict.conditions[1]
    assert (loaded.ok, loaded.reason) == (False, reason)
    assert verdict.phase is ModelPhase.MODEL_LOADING
    if reason is ModelReason.NO_DEFAULT_STORAGE_CLASS:
        assert loaded.message.startswith("Waiting for a volume to be bound to qwen-7b (Pending) to download Qwen/Q: ")
        assert "names no StorageClass (spec.storage.pvc.spec.storageClassName)" in loaded.message
        assert 'no default StorageClass (annotated storageclass.kubernetes.io/is-default-class: "true")' in (
            loaded.message
        )
        assert "name an existing class in spec.storage.pvc.spec.storageClassName" in loaded.message
