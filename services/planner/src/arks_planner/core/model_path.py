"""Where a model lives inside the runtime container: the one convention the planner and model-loader share."""

from __future__ import annotations

from arks_common.api.application import MODEL_MOUNT_PATH


def model_path(repo_id: str) -> str:
    """The model's directory in the pod: the model volume is mounted read-only at `/models`, and the
    model-loader downloads the ArksModel `spec.model` (a hub repository id) into `<volume>/<repo id>`, so
    `Qwen/Qwen2.5-7B-Instruct-1M` is served from `/models/Qwen/Qwen2.5-7B-Instruct-1M`."""
    return f"{MODEL_MOUNT_PATH}/{repo_id.strip('/')}"
