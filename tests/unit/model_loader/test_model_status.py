"""An ArksModel's status follows its claim and download Job, in the guide's words."""

from __future__ import annotations

from typing import Any

import pytest

from arks_common.api.model import ArksModel, ModelPhase
from arks_model_loader.core.loaded import loaded_verdict
from arks_model_loader.core.model_status import (
    ModelObserved,
    compute_model_status,
    download_blocked,
    waiting_on_its_pod,
)
from arks_model_loader.core.storage import (
    DOWNLOAD_CONTAINER,
    GENERATION_ANNOTATION,
    DownloaderConfig,
    belongs_to,
    claim,
    download_job,
    job_name,
    requested_storage,
    tried_for_another_generation,
)
from support.builders import sample

CONFIG = DownloaderConfig(image="arks/downloader:test")


def job(condition: str | None) -> dict[str, Any]:
    conds = [{"type": condition, "status": "True", "reason": "BackoffLimitExceeded", "message": "gave up"}]
    return {"metadata": {"name": "j"}, "status": {"conditions": conds if condition else []}}


def obs(**kw: Any) -> ModelObserved:
    base: dict[str, Any] = dict(
        model_name="qwen-7b",
        repo_id="Qwen/Q",
        pvc_name="qwen-7b",
        pvc={"metadata": {}},
        pvc_error=None,
        job=job(None),
        failure_message=None,
    )
    base.update(kw)
    return ModelObserved(**base)


@pytest.mark.parametrize(
    ("case", "observed", "phase"),
    [
        ("no claim yet is StorageCreating", obs(pvc=None, job=None), ModelPhase.STORAGE_CREATING),
        ("a refused claim is Failed", obs(pvc=None, pvc_error="spec.resources: required"), ModelPhase.FAILED),
        ("a running download is ModelLoading", obs(), ModelPhase.MODEL_LOADING),
        ("a completed download is Ready", obs(job=job("Complete")), ModelPhase.READY),
        ("a failed download is Failed", obs(job=job("Failed"), failure_message="model x not found"), ModelPhase.FAILED),
    ],
)
def test_phase_follows_claim_and_job(case: str, observed: ModelObserved, phase: ModelPhase) -> None:
    assert compute_model_status(observed).phase is phase


def test_ready_model_reads_as_in_the_guide() -> None:
    verdict = compute_model_status(obs(job=job("Complete")))
    assert [(c.type, c.ok, c.reason.value, c.message) for c in verdict.conditions] == [
        ("StorageCreated", True, "CreateSucceeded", "Create model storage successfully(qwen-7b)"),
        ("ModelLoaded", True, "ModelLoadSucceeded", "Load the model successfully"),
        ("Ready", True, "Ready", "The model is ready now"),
    ]


def test_failure_carries_the_downloaders_own_words() -> None:
    verdict = compute_model_status(obs(job=job("Failed"), failure_message="model Qwen/Q not found on https://hub"))
    loaded = verdict.conditions[1]
    assert (loaded.ok, loaded.reason.value) == (False, "ModelLoadFailed")
    assert loaded.message == "Load the model Qwen/Q failed: model Qwen/Q not found on https://hub"
    fallback = compute_model_status(obs(job=job("Failed")))
    assert "BackoffLimitExceeded: gave up" in fallback.conditions[1].message


def _model(name: str = "model-private.yaml") -> ArksModel:
    doc = sample(name, kind="ArksModel")
    doc["metadata"]["uid"] = "u1"
    return ArksModel.model_validate(doc)


def test_download_job_takes_the_token_from_its_secret_only() -> None:
    spec = download_job(_model(), CONFIG, "c1")
    container = spec["spec"]["template"]["spec"]["containers"][0]
    token = next(e for e in container["env"] if e["name"] == "HF_TOKEN")
    assert token == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}}
    assert container["args"] == ["--model", "Qwen/Qwen2.5-7B-Instruct-1M", "--models-dir", "/models"]
    assert {"name": "models", "mountPath": "/models"} in container["volumeMounts"]
    assert {"name": "ARKS_TOKEN_SECRET", "value": "hf-token"} in container["env"]
    assert spec["spec"]["backoffLimit"] == 3
    assert spec["metadata"]["ownerReferences"][0]["uid"] == "u1"
    public = download_job(_model("model.yaml"), CONFIG, "c1")
    assert all(e["name"] != "HF_TOKEN" for e in public["spec"]["template"]["spec"]["containers"][0]["env"])


def test_a_changed_model_gets_a_new_job_and_an_unchanged_one_the_same() -> None:
    model = _model()
    assert job_name(model) == job_name(_model())
    other = model.model_copy(update={"spec": model.spec.model_copy(update={"model": "Qwen/Other"})})
    assert job_name(other) != job_name(model)
    assert len(job_name(model)) <= 63


def test_claim_is_the_models_storage_spec_owned_by_the_model() -> None:
    pvc = claim(_model())
    assert pvc["metadata"]["name"] == "qwen-7b"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["metadata"]["ownerReferences"][0]["kind"] == "ArksModel"


@pytest.mark.parametrize(
    ("case", "model", "ok", "reason"),
    [
        ("a missing model", None, False, "ModelNotFound"),
        ("a model loading", {"metadata": {}, "status": {"phase": "ModelLoading"}}, False, "ModelLoading"),
        ("a ready model", {"metadata": {}, "status": {"phase": "Ready"}}, True, "ModelLoadSucceeded"),
        ("a failed model", {"metadata": {}, "status": {"phase": "Failed"}}, False, "ModelLoadFailed"),
        (
            "a model being deleted",
            {"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Ready"}},
            False,
            "ModelDeleting",
        ),
    ],
)
def test_loaded_gate(case: str, model: dict[str, Any] | None, ok: bool, reason: str) -> None:
    verdict = loaded_verdict("ns", "m", model)
    assert (verdict.ok, verdict.reason.value) == (ok, reason)


def test_loaded_message_of_a_ready_model_is_the_guides() -> None:
    assert loaded_verdict("ns", "m", {"metadata": {}, "status": {"phase": "Ready"}}).message == (
        "The referenced model is loaded"
    )


def test_a_failed_download_is_tried_again_only_for_a_newer_generation_of_the_model() -> None:
    model = _model()
    started = download_job(
        model.model_copy(update={"metadata": model.metadata.model_copy(update={"generation": 3})}), CONFIG, "c1"
    )
    assert started["metadata"]["annotations"][GENERATION_ANNOTATION] == "3"
    assert not tried_for_another_generation(started, 3)
    assert tried_for_another_generation(started, 4)  # more storage, a fixed Secret since it failed
    assert tried_for_another_generation({"metadata": {"name": "j"}}, 3)  # from before Jobs said which: once more


def test_a_claim_or_job_of_a_deleted_namesake_model_is_not_this_models() -> None:
    model = _model()  # uid u1
    assert belongs_to(claim(model), model)
    assert belongs_to({"metadata": {"name": "qwen-7b"}}, model)  # a claim the user made for the model
    old = claim(model)
    old["metadata"]["ownerReferences"][0]["uid"] = "u0"  # the model deleted and re-created under the name
    assert not belongs_to(old, model)
    going = claim(model)
    going["metadata"]["deletionTimestamp"] = "2026-12-07T00:00:00Z"
    assert not belongs_to(going, model)


def test_the_storage_a_claim_requests() -> None:
    model = _model()
    assert requested_storage(claim(model)) == "30Gi"
    assert requested_storage({"spec": {"resources": "garbage"}}) is None
    assert requested_storage({}) is None


def test_a_download_waiting_for_its_volume_says_so() -> None:
    def loaded_message(pvc: dict[str, Any]) -> str:
        verdict = compute_model_status(obs(pvc=pvc))
        assert verdict.phase is ModelPhase.MODEL_LOADING
        return verdict.conditions[1].message

    assert loaded_message({"metadata": {}, "status": {"phase": "Bound"}}) == "Downloading Qwen/Q into qwen-7b"
    # a storage class that provisions nothing: the claim stays Pending and no download runs
    waiting = "Waiting for a volume to be bound to qwen-7b (Pending) to download Qwen/Q"
    assert loaded_message({"metadata": {}, "status": {"phase": "Pending"}}) == waiting
    assert loaded_message({"metadata": {}}) == waiting


def _pod(
    created: str, waiting: dict[str, str] | None = None, scheduled: dict[str, str] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if waiting is not None:
        status["containerStatuses"] = [{"name": DOWNLOAD_CONTAINER, "state": {"waiting": waiting}}]
    if scheduled is not None:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", **scheduled}]
    return {"metadata": {"creationTimestamp": created}, "status": status}


def test_a_download_pod_that_cannot_start_is_told_on_the_model_and_the_application() -> None:
    """A token Secret that does not exist keeps the pod in CreateContainerConfigError: the Job never fails, and the
    model said `Downloading` for good."""
    no_secret = {"reason": "CreateContainerConfigError", "message": 'secret "hf-token" not found'}
    pods = [_pod("2026-12-07T04:00:00Z", {"reason": "ContainerCreating"}), _pod("2026-12-07T04:01:00Z", no_secret)]
    problem = download_blocked(pods, DOWNLOAD_CONTAINER)
    assert problem == 'CreateContainerConfigError: secret "hf-token" not found'
    running_job = {"metadata": {"name": "j"}, "status": {"active": 1}}
    verdict = compute_model_status(
        obs(pvc={"metadata": {}, "status": {"phase": "Bound"}}, job=running_job, start_problem=problem)
    )
    assert verdict.phase is ModelPhase.MODEL_LOADING  # it may still start: a Secret created now lets it
    message = verdict.conditions[1].message
    assert message == 'The download of Qwen/Q cannot start: CreateContainerConfigError: secret "hf-token" not found'
    model = {
        "metadata": {"name": "qwen-7b"},
        "status": {
            "phase": "ModelLoading",
            "conditions": [{"type": "ModelLoaded", "status": "False", "reason": "ModelLoading", "message": message}],
        },
    }
    assert message in loaded_verdict("ns", "qwen-7b", model).message


def test_a_pod_that_starts_or_runs_or_has_no_room_yet() -> None:
    assert download_blocked([], DOWNLOAD_CONTAINER) is None
    assert download_blocked([_pod("t", {"reason": "ContainerCreating"})], DOWNLOAD_CONTAINER) is None
    unschedulable = {"reason": "Unschedulable", "message": "0/4 nodes are available: 4 Insufficient cpu."}
    assert download_blocked([_pod("t", scheduled=unschedulable)], DOWNLOAD_CONTAINER) == (
        "Unschedulable: 0/4 nodes are available: 4 Insufficient cpu."
    )


def test_only_a_running_job_whose_pod_is_not_ready_is_looked_at_again() -> None:
    assert waiting_on_its_pod({"status": {"active": 1}})
    assert not waiting_on_its_pod({"status": {"active": 1, "ready": 1}})
    assert not waiting_on_its_pod({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})
    assert not waiting_on_its_pod(None)


@pytest.mark.parametrize(
    "name", ["qwen-7b/status", "x?watch=true", "Qwen-7B", "..", "a" * 254], ids=lambda n: repr(n[:20])
)
def test_a_model_name_no_arksmodel_can_have_is_not_found_and_says_what_to_fix(name: str) -> None:
    ready = {"metadata": {"name": "qwen-7b", "namespace": "ns"}, "status": {"phase": "Ready"}}
    verdict = loaded_verdict("ns", name, ready)
    assert not verdict.ok
    assert verdict.reason.value == "ModelNotFound"
    assert "cannot name an ArksModel" in verdict.message
    assert "fix spec.model.name" in verdict.message


@pytest.mark.parametrize(
    ("generation", "observed", "ok"),
    [(2, 1, False), (2, 2, True), (None, 1, True), (2, None, True)],
    ids=["ready for an older spec", "ready for its spec", "no generation said", "no observed generation said"],
)
def test_only_a_ready_status_of_the_models_own_spec_is_loaded(
    generation: int | None, observed: int | None, ok: bool
) -> None:
    model: dict[str, Any] = {"metadata": {"name": "qwen-7b", "namespace": "ns"}, "status": {"phase": "Ready"}}
    if generation is not None:
        model["metadata"]["generation"] = generation
    if observed is not None:
        model["status"]["observedGeneration"] = observed
    verdict = loaded_verdict("ns", "qwen-7b", model)
    assert verdict.ok is ok
    assert verdict.reason.value == ("ModelLoadSucceeded" if ok else "ModelLoading")
