"""Condition reasons and messages that more than one service reads (the guide's wording kept verbatim)."""

from __future__ import annotations

from enum import StrEnum


class LoadedReason(StrEnum):
    """Reasons of the application's `Loaded` condition, owned by the model-loader."""

    SUCCEEDED = "ModelLoadSucceeded"
    LOADING = "ModelLoading"
    FAILED = "ModelLoadFailed"
    NOT_FOUND = "ModelNotFound"
    DELETING = "ModelDeleting"


LOADED_MESSAGE = "The referenced model is loaded"
PRECHECK_PASS_MESSAGE = "The application passed the pre-checking"
READY_MESSAGE = "The LLM service is running"

LOADED_FAILURES = frozenset({LoadedReason.FAILED, LoadedReason.NOT_FOUND})
"""Loaded reasons that put the application in phase Failed rather than Loading."""
