"""SGLang's PD router (PyPI sglang-router, the release the runtime profile's SGLang PD commands target) in an env of
its own, for running the router command Arks plans as it stands. Made once with uv under
`${ARKS_CACHE:-~/.cache/arks}/test-envs/` and reused; fails, never skips, when it cannot be made."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SGLANG_ROUTER_VERSION = "0.3.2"
"""The sglang-router the default profile's `sglang.disaggregation.router` targets (its comment cites 0.3.2)."""


def _cache() -> Path:
    return Path(os.environ.get("ARKS_CACHE") or Path.home() / ".cache" / "arks")


def _uv() -> str:
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(_cache() / "uv" / "bin" / "uv")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("uv not found (run `make deps` first, or set UV)")


def sglang_router_python() -> Path:
    """The python of an env holding sglang-router SGLANG_ROUTER_VERSION (`python -m sglang_router.launch_router`)."""
    requirement = f"sglang-router=={SGLANG_ROUTER_VERSION}"
    env = _cache() / "test-envs" / f"sglang-router-{SGLANG_ROUTER_VERSION}"
    python, stamp = env / "bin" / "python", env / ".arks-test-env"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == requirement:
        return python
    shutil.rmtree(env, ignore_errors=True)
    uv = _uv()
    for step in (
        [uv, "venv", "--quiet", "--python", "python3.11", str(env)],
        [uv, "pip", "install", "--quiet", "--python", str(python), requirement],
    ):
        done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(step[1:3])} for {requirement} failed ({done.returncode}): {done.stderr[-2000:]}"
            )
    stamp.write_text(requirement + "\n")
    return python
