"""Where a model's files live on the model volume: the path convention shared with the launch command.

Pure path arithmetic; must not touch the filesystem.
"""

from __future__ import annotations

import re
from pathlib import Path

MODELS_DIR_DEFAULT = "/models"
MARKER_NAME = ".arks-download.json"

# The Hub's own repo id rules: one optional namespace, names of letters, digits, `-`, `_`, `.`, at most 96
# characters, not starting or ending with `-` or `.`, and never `--` or `..` (so no path can escape models_dir).
_NAME = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"{_NAME}(?:/{_NAME})?")


class InvalidRepoIdError(ValueError):
    """The model id is not a hub repository id (`name` or `namespace/name`)."""


def model_dir(models_dir: str | Path, repo_id: str) -> Path:
    """The directory a model is downloaded into: `<models_dir>/<repo id>`.

    The repo id's `/` makes a subdirectory, so `Qwen/Qwen2.5-7B-Instruct-1M` lands in
    `/models/Qwen/Qwen2.5-7B-Instruct-1M`. The application pods mount the same volume read-only at `/models` and
    the planner's launch command (`arks_common.conventions.model_path`) points the runtime at exactly this
    directory: change both together or neither.
    """
    name = repo_id.strip("/")
    if not _REPO_ID.fullmatch(name) or ".." in name or "--" in name:
        raise InvalidRepoIdError(
            f"{repo_id!r} is not a hub repository id: expected 'name' or 'namespace/name' of letters, digits, "
            "'-', '_' and '.'"
        )
    return Path(models_dir) / name


def marker_path(directory: Path) -> Path:
    """The marker a finished download leaves in the model's directory."""
    return directory / MARKER_NAME
