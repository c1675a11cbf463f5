"""The download marker: a record, in the model's directory, of which commit was completely downloaded there.

Reads and writes only the marker file; must not download anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arks_model_loader.downloader.paths import marker_path

MARKER_VERSION = 1


@dataclass(frozen=True)
class Marker:
    repo_id: str
    revision: str
    commit: str
    files: tuple[str, ...]

    def matches(self, repo_id: str, revision: str, commit: str) -> bool:
        return (self.repo_id, self.revision, self.commit) == (repo_id, revision, commit)

    def missing_files(self, directory: Path) -> list[str]:
        return [f for f in self.files if not (directory / f).is_file()]


def read_marker(directory: Path) -> Marker | None:
    """The marker in `directory`, or None when there is none or it cannot be trusted (then we download again)."""
    try:
        data: Any = json.loads(marker_path(directory).read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("version") != MARKER_VERSION or not isinstance(files, list):
            return None
        return Marker(
            repo_id=str(data["repo_id"]),
            revision=str(data["revision"]),
            commit=str(data["commit"]),
            files=tuple(str(f) for f in files),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_marker(directory: Path, marker: Marker) -> None:
    """Write the marker atomically, so a crash never leaves a half-written marker that parses."""
    data = {
        "version": MARKER_VERSION,
        "repo_id": marker.repo_id,
        "revision": marker.revision,
        "commit": marker.commit,
        "files": sorted(marker.files),
    }
    target = marker_path(directory)
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def remove_marker(directory: Path) -> None:
    """Forget a finished download before changing the directory, so a partial new one never looks complete."""
    marker_path(directory).unlink(missing_ok=True)
