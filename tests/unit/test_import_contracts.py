"""The import contracts in `.importlinter` catch what they promise to: each case plants one forbidden import in
a copy of the sources and runs the real `lint-imports` on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "arks_common": ROOT / "libs/arks_common/src/arks_common",
    **{p.name: p for p in (ROOT / "services").glob("*/src/arks_*")},
}


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copies come first on the path, so grimp analyses them instead of the installed packages.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name, src in PACKAGES.items():
        shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _plant(tree: Path, lines: dict[str, str]) -> None:
    for relative, line in lines.items():
        path = tree / relative
        path.write_text((path.read_text() if path.exists() else '"""Planted."""\n') + f"{line}  # noqa\n")


def test_the_sources_as_they_are_keep_every_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout[-3000:]


CASES = {
    # A core that reaches NATS through a shared helper is as impure as one importing it itself.
    "indirect-nats": (
        {"arks_common/conventions.py": "import nats", "arks_deployer/core/diff.py": "import arks_common.conventions"},
        "Service cores are pure",
    ),
    "deployer-core-up": ({"arks_deployer/core/status.py": "import arks_deployer.reconcile"}, "deployer:"),
    "planner-handlers-up": ({"arks_planner/handlers.py": "import arks_planner.app"}, "planner:"),
    "watcher-core-up": ({"arks_watcher/core/changes.py": "import arks_watcher.adapters"}, "watcher:"),
    "scaler-core-metrics": ({"arks_slo_scaler/core/decide.py": "import arks_slo_scaler.metrics"}, "slo-scaler:"),
    # Exhaustive: a module nobody placed in a layer breaks its service's contract.
    "unplaced-module": ({"arks_model_loader/stray.py": "import json"}, "model-loader:"),
    "downloader-common": ({"arks_model_loader/downloader/paths.py": "import arks_common"}, "downloader"),
    "service-to-service": ({"arks_planner/core/plan.py": "import arks_deployer"}, "Services never import"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_planted_forbidden_import_breaks_lint(tree: Path, case: str) -> None:
    lines, broken = CASES[case]
    _plant(tree, lines)
    result = _lint(tree)
    assert result.returncode != 0, result.stdout[-3000:]
    assert broken in result.stdout.split("Broken contracts", 1)[-1], result.stdout[-3000:]
