"""Every program of every image answers `--help` and `--version` at once, without connecting to anything, and
refuses an argument it does not know (exit 2), also before anything is connected."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from support.arks_system import SERVICES

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROGRAMS = (*(f"arks-{s}" for s in SERVICES), "arks-bus-bootstrap", "arks-model-download")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(program: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # NATS where nothing listens, no cluster: a program that tried to connect would hang until the timeout.
    env = {
        **os.environ,
        "ARKS_NATS_URL": f"nats://127.0.0.1:{_closed_port()}",
        "ARKS_KUBECONFIG": "/nonexistent",
        **(env or {}),
    }
    command = [str(BIN / program)] if program.startswith("arks-") else [sys.executable, "-m", program]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("program", PROGRAMS)
def test_version_names_the_program_and_the_project_version(program: str) -> None:
    proc = _run(program, "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{program} {VERSION}"


@pytest.mark.parametrize("program", PROGRAMS)
def test_help_says_what_it_does_and_how_it_is_configured(program: str) -> None:
    proc = _run(program, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {program}")
    assert "--version" in proc.stdout
    if program in {f"arks-{s}" for s in SERVICES}:
        assert "ARKS_NATS_URL" in proc.stdout
        assert "ARKS_SHUTDOWN_GRACE_SECONDS" in proc.stdout
        assert "ARKS_NATS_PASSWORD" in proc.stdout
        assert "(secret)" in proc.stdout


@pytest.mark.parametrize("program", [f"arks-{s}" for s in SERVICES])
def test_an_unknown_argument_is_refused_before_anything_starts(program: str) -> None:
    proc = _run(program, "--nats-url=nats://elsewhere:4222")
    assert proc.returncode == 2
    assert "unrecognized arguments: --nats-url" in proc.stderr


@pytest.mark.parametrize("program", [*(f"arks-{s}" for s in SERVICES), "arks-bus-bootstrap"])
def test_a_bad_setting_is_one_log_line_naming_it_and_exit_78(program: str) -> None:
    """Not a pydantic traceback with the variable buried in it: one line in the services' log format (JSON here)
    naming each refused variable, the value given and what is allowed; exit 78 (EX_CONFIG), before connecting."""
    proc = _run(program, env={"ARKS_SHUTDOWN_GRACE_SECONDS": "nan", "ARKS_HTTP_PORT": "0", "ARKS_LOG_FORMAT": "json"})
    assert proc.returncode == 78, proc.stderr
    (line,) = proc.stderr.splitlines()
    logged = json.loads(line)
    assert logged["level"] == "error"
    assert logged["problems"] == [
        "ARKS_HTTP_PORT='0': must be a whole number from 1 to 65535",
        "ARKS_SHUTDOWN_GRACE_SECONDS='nan': must be a number of seconds from 0 to 3600",
    ]


def test_the_planner_with_a_relist_period_of_nought_says_so_in_one_line() -> None:
    """`ARKS_RELIST_SECONDS=0 python -m arks_planner` (before: a 20-line traceback, exit 1)."""
    proc = _run("arks_planner", env={"ARKS_RELIST_SECONDS": "0", "ARKS_LOG_FORMAT": "console"})
    assert proc.returncode == 78, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "settings refused; not started" in line
    assert "ARKS_RELIST_SECONDS='0': must be a number of seconds from 1 to 86400" in line


@pytest.mark.parametrize(
    ("program", "env", "said"),
    [
        (
            "arks-watcher",
            {"ARKS_WATCH_KINDS": "application,bogus"},
            "ARKS_WATCH_KINDS='application,bogus': unknown kind",
        ),
        ("arks-watcher", {"ARKS_WATCH_KINDS": " , "}, "ARKS_WATCH_KINDS=' , ': names no kind to follow"),
        (
            "arks-planner",
            {"ARKS_RUNTIME_PROFILES_SET": "bogus"},
            "ARKS_RUNTIME_PROFILES_SET='bogus': no shipped set; known: default",
        ),
        ("arks-planner", {"ARKS_RUNTIME_PROFILES_FILE": "/nonexistent"}, "ARKS_RUNTIME_PROFILES_FILE='/nonexistent': "),
    ],
    ids=["an unknown kind to watch", "no kind to watch", "an unknown profile set", "a profile file that is not there"],
)
def test_a_setting_checked_beyond_its_type_is_refused_the_same_way(
    program: str, env: dict[str, str], said: str
) -> None:
    """Settings that name things (the kinds the watcher follows, the planner's profiles) are refused as the numbers
    are, before anything is reached (before: a traceback, exit 1; the watcher's kinds only after the bus was)."""
    proc = _run(program, env={**env, "ARKS_LOG_FORMAT": "json"})
    assert proc.returncode == 78, proc.stderr
    (line,) = proc.stderr.splitlines()
    (problem,) = json.loads(line)["problems"]
    assert problem.startswith(said), problem


def test_a_profile_override_that_is_not_yaml_is_refused_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "profiles.yaml"
    broken.write_text("vllm: {image: [1\n")
    proc = _run("arks-planner", env={"ARKS_RUNTIME_PROFILES_FILE": str(broken), "ARKS_LOG_FORMAT": "json"})
    assert proc.returncode == 78, proc.stderr
    (line,) = proc.stderr.splitlines()
    (problem,) = json.loads(line)["problems"]
    assert problem.startswith(f"ARKS_RUNTIME_PROFILES_FILE={str(broken)!r}: profile override: not valid YAML"), problem


@pytest.mark.parametrize(
    "content", [b"\xff\xfe not text", b"[" * 3000], ids=["not UTF-8", "nested deeper than a parser recurses"]
)
def test_a_profile_override_that_cannot_be_read_is_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    """Before: a traceback and exit 1 (a UnicodeDecodeError, a RecursionError)."""
    broken = tmp_path / "profiles.yaml"
    broken.write_bytes(content)
    proc = _run("arks-planner", env={"ARKS_RUNTIME_PROFILES_FILE": str(broken), "ARKS_LOG_FORMAT": "json"})
    assert proc.returncode == 78, proc.stderr[-2000:]
    (line,) = proc.stderr.splitlines()
    (problem,) = json.loads(line)["problems"]
    assert problem.startswith(f"ARKS_RUNTIME_PROFILES_FILE={str(broken)!r}: "), problem
