"""Runs a built Arks image as its chart would run it (read-only root, uid 65532, no capabilities), on the host
network so it reaches the test's nats-server and local cluster on loopback.

Flags this kind of machine needs (make image-test's docs): `--runtime runc` (crun cannot start containers here)
and explicit nofile/nproc ulimits (podman's defaults are refused).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_FLAGS = (
    "--runtime=runc",
    "--ulimit=nofile=20000:20000",
    "--ulimit=nproc=4096:4096",
    "--network=host",
    "--read-only",
    "--tmpfs=/tmp",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
)
NONROOT = 65532


def image_refs(tag: str | None = None) -> dict[str, str]:
    """name -> reference of every image `make images` builds (its own --list); at `tag` instead if given."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "images" / "build.py"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    refs = {ref.rsplit(":", 1)[0].rsplit("/arks-", 1)[1]: ref for ref in out}
    return {name: f"{ref.rsplit(':', 1)[0]}:{tag}" if tag else ref for name, ref in refs.items()}


def podman(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("podman")
    if exe is None:
        raise RuntimeError("podman not found: run `make images` first (it installs podman and builds the images)")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, check=False)


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref).returncode == 0


def readable_by_nonroot(source: Path, directory: Path) -> Path:
    """A copy of `source` that only the image's user can read (a Secret mounted with its fsGroup, in a pod)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / source.name
    shutil.copyfile(source, target)
    os.chown(target, NONROOT, NONROOT)
    target.chmod(0o400)
    return target


class Container:
    """One container of an image: started detached, probed from the host, signalled, waited for."""

    def __init__(self, ref: str, env: Mapping[str, str], mounts: Mapping[Path, str], http_port: int) -> None:
        self.ref = ref
        self.name = f"arks-test-{uuid.uuid4().hex[:10]}"
        self.env = dict(env)
        self.mounts = dict(mounts)
        self.http_port = http_port

    def start(self) -> None:
        args = ["run", "--detach", "--name", self.name, *RUN_FLAGS]
        for key, value in self.env.items():
            args += ["--env", f"{key}={value}"]
        for source, target in self.mounts.items():
            args += ["--volume", f"{source}:{target}:ro"]
        proc = podman(*args, self.ref)
        if proc.returncode != 0:
            raise RuntimeError(f"podman run {self.ref} failed ({proc.returncode}): {proc.stderr.strip()}")

    def answers(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def running(self) -> bool:
        return podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() == "true"

    def logs(self) -> str:
        proc = podman("logs", self.name)
        return proc.stdout + proc.stderr

    def sigterm(self, within: float) -> tuple[int | None, float]:
        """SIGTERM to the service (the container's PID 1), then its exit code within `within` seconds (None:
        still running) and the seconds it took."""
        started = time.monotonic()
        podman("kill", "--signal", "TERM", self.name)
        deadline = started + within
        while time.monotonic() < deadline:
            if not self.running():
                took = time.monotonic() - started
                code = podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip()
                return int(code), took
            time.sleep(0.05)
        return None, time.monotonic() - started

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name)
