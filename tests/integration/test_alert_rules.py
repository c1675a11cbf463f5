"""The alerting and recording rules under Prometheus' own tool (Debian's `prometheus` package ships `promtool`):
`promtool check rules` accepts the generated file, and `promtool test rules` runs tests/promtool/*.yaml, in which
alerts fire on trouble and stay silent on health. A copy of the rules with Dynamo's bucket-edge fix removed must
fail those tests, so they can catch a broken rule."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.prometheus import ensure_installed

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/charts/arks-monitoring/files/arks-rules.yaml"
TESTS = sorted((ROOT / "tests/promtool").glob("*_test.yaml"))


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool", path=str(Path(ensure_installed()).parent)) or shutil.which("promtool")
    assert found, "the prometheus package is installed but has no promtool"
    return found


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def test_promtool_accepts_the_rules(promtool: str) -> None:
    done = _run(promtool, "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"SUCCESS: \d+ rules found", done.stdout), done.stdout


def test_there_are_rule_tests_for_serving_and_the_control_plane() -> None:
    assert {p.name for p in TESTS} >= {"serving_test.yaml", "control_plane_test.yaml"}


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_promtool_rule_tests_pass(promtool: str, test_file: Path) -> None:
    done = _run(promtool, "test", "rules", str(test_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_rule_tests_catch_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    """Without the `le` normalization, Dynamo's le="1" never meets a 1 s target: the serving tests must fail."""
    rules = RULES.read_text()
    broken = re.sub(r'label_replace\((rate\(dynamo_[^)]*\)), "le", "\$1\.0", "le", "\(\[0-9\]\+\)"\)', r"\1", rules)
    assert broken != rules
    (tmp_path / "deploy/charts/arks-monitoring/files").mkdir(parents=True)
    (tmp_path / "deploy/charts/arks-monitoring/files/arks-rules.yaml").write_text(broken)
    (tmp_path / "tests/promtool").mkdir(parents=True)
    test_file = tmp_path / "tests/promtool/serving_test.yaml"
    shutil.copy(ROOT / "tests/promtool/serving_test.yaml", test_file)
    done = _run(promtool, "test", "rules", str(test_file))
    assert done.returncode != 0
    assert 'application="dyn"' in done.stdout + done.stderr
