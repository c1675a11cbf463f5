"""The application's `Loaded` condition as a pure function of its model (the model-loader owns it). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arks_common.api.application import ConditionType
from arks_common.api.conditions import bounded
from arks_common.api.model import ModelConditionType, ModelPhase
from arks_common.api.reasons import LOADED_MESSAGE, LoadedReason
from arks_common.conventions import is_object_name


@dataclass(frozen=True)
class LoadedVerdict:
    ok: bool
    reason: LoadedReason
    message: str


def loaded_verdict(namespace: str, model_name: str, model: dict[str, Any] | None) -> LoadedVerdict:
    if not is_object_name(model_name):
        return LoadedVerdict(
            False,
            LoadedReason.NOT_FOUND,
            f"spec.model.name {model_name[:300]!r} cannot name an ArksModel (lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters); fix spec.model.name",
        )
    if model is None:
        return LoadedVerdict(
            False,
            LoadedReason.NOT_FOUND,
            f"ArksModel {model_name} does not exist in namespace {namespace}; create it or fix spec.model.name",
        )
    if model.get("metadata", {}).get("deletionTimestamp"):
        return LoadedVerdict(
            False, LoadedReason.DELETING, f"ArksModel {model_name} is being deleted while this application uses it"
        )
    status = model.get("status") or {}
    phase = status.get("phase") or ModelPhase.PENDING.value
    if phase == ModelPhase.READY.value and describes_its_spec(model):
        return LoadedVerdict(True, LoadedReason.SUCCEEDED, LOADED_MESSAGE)
    if phase == ModelPhase.READY.value:
        return LoadedVerdict(
            False,
            LoadedReason.LOADING,
            f"Waiting for ArksModel {model_name} to be loaded (its spec changed since it was Ready)",
        )
    if phase == ModelPhase.FAILED.value:
        why = _failure_message(status)
        return LoadedVerdict(False, LoadedReason.FAILED, bounded(f"ArksModel {model_name} failed to load: {why}"))
    # the model's own account of its load, so a download that cannot start shows on the application too
    step = _condition_message(status, ModelConditionType.MODEL_LOADED.value)
    return LoadedVerdict(
        False,
        LoadedReason.LOADING,
        bounded(
            f"Waiting for ArksModel {model_name} to be loaded (phase {str(phase)[:63]}{': ' + step if step else ''})"
        ),
    )


def describes_its_spec(model: dict[str, Any]) -> bool:
    """Whether a model's status is about its current spec: a `Ready` of an older generation (a new repo id not
    downloaded yet) is no `Ready`. A copy that does not say (no generation, as the watch of Ready models keeps
    it when older) counts as current."""
    generation = (model.get("metadata") or {}).get("generation")
    observed = (model.get("status") or {}).get("observedGeneration")
    return not isinstance(generation, int) or not isinstance(observed, int) or observed >= generation


def _condition_message(status: dict[str, Any], type_: str) -> str:
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == type_ and cond.get("status") == "False":
            # the model's words, as any writer of its status left them: bounded, as every application repeats them
            return bounded(str(cond.get("message") or ""))
    return ""


def _failure_message(status: dict[str, Any]) -> str:
    # storage first: a model whose claim failed says only "Waiting for the model storage" on ModelLoaded
    for type_ in (ModelConditionType.STORAGE_CREATED.value, ModelConditionType.MODEL_LOADED.value, "Ready"):
        message = _condition_message(status, type_)
        if message:
            return message
    return "see the ArksModel's status"


def model_name_of(app: dict[str, Any]) -> str | None:
    """The model an application refers to, or None when its spec has none (the planner reports that)."""
    name = ((app.get("spec") or {}).get("model") or {}).get("name")
    return str(name) if name else None


def loaded_is_current(app: dict[str, Any]) -> bool:
    """Whether this copy of an application already carries a `Loaded` condition for its own generation.

    The verdict depends only on the application's spec (its generation) and on its model; a model's every change
    reaches the gate as a model event, which rewrites the condition of each application using it. So a copy whose
    condition is current needs no reading at all: the application changed elsewhere (its status, most often).
    """
    meta = app.get("metadata") or {}
    generation = meta.get("generation")
    for cond in (app.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ConditionType.LOADED.value:
            return generation is not None and cond.get("observedGeneration") == generation
    return False
