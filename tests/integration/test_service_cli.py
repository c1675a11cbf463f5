"""Every program of every image answers `--help` and `--version` at once, without connecting to anything, and
refuses an argument it does not know (exit 2), also before anything is connected."""

from __future__ import annotations

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


def _run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    # NATS where nothing listens, no cluster: a program that tried to connect would hang until the timeout.
    env = {**os.environ, "ARKS_NATS_URL": f"nats://127.0.0.1:{_closed_port()}", "ARKS_KUBECONFIG": "/nonexistent"}
    return subprocess.run([str(BIN / program), *args], env=env, capture_output=True, text=True, timeout=30, check=False)


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
