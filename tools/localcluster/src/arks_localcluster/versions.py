"""Pinned versions (tools/versions.env) and the on-disk layout of the binary cache."""

from __future__ import annotations

import os
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALCLUSTER_DIR = PACKAGE_DIR.parents[1]  # tools/localcluster
GOMOD_DIR = LOCALCLUSTER_DIR / "gomod"
VERSIONS_FILE = LOCALCLUSTER_DIR.parent / "versions.env"  # tools/versions.env

_LINE = re.compile(r"^\s*([A-Z][A-Z0-9_]*)=(.*?)\s*$")


def load_versions(path: Path | None = None) -> dict[str, str]:
    """Parse the shell-sourceable KEY=VALUE file (comments and blank lines ignored, quotes stripped)."""
    path = path or Path(os.environ.get("ARKS_VERSIONS_FILE", str(VERSIONS_FILE)))
    versions: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0]
        m = _LINE.match(line)
        if m:
            versions[m.group(1)] = m.group(2).strip().strip("'\"")
    return versions


def cache_dir() -> Path:
    """`${ARKS_CACHE:-~/.cache/arks}`: binaries, build logs and the `make cluster-up` run directory."""
    return Path(os.environ.get("ARKS_CACHE") or Path.home() / ".cache" / "arks").expanduser()


def bin_root() -> Path:
    return cache_dir() / "bin"


def run_dir() -> Path:
    """State of the background cluster started by `python -m arks_localcluster up`."""
    return cache_dir() / "run"
