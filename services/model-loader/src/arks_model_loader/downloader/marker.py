"""The download marker: a record, in the model's directory, of which commit was downloaded there and whether
completely (a download in progress keeps the previous file list, so the files a new commit drops can be removed).

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
    complete: bool = True

    def matches(self, repo_id: str, revision: str, commit: str) -> bool:
        return self.complete and (self.repo_id, self.revision, self.commit) == (repo_id, revision, commit)

    def missing_files(self, directory: Path) -> list[str]:
        return [f for f in self.files if not (directory / f).is_file()]


def read_marker(directory: Path) -> Marker | None:
    """The marker in `directory`, or None when there is none or it cannot be trusted (then we download again)."""
    try:
        data: Any = json.loads(marker_path(directory).read_text(encoding="utf-8"))
        files, complete = data["files"], data["complete"]
        if data.get("version") != MARKER_VERSION or not isinstance(files, list) or not isinstance(complete, bool):
            return None
        return Marker(
            repo_id=str(data["repo_id"]),
            revision=str(data["revision"]),
            commit=str(data["commit"]),
            files=tuple(str(f) for f in files),
            complete=complete,
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
        "complete": marker.complete,
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
