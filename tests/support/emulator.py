"""The runtime emulator (`bench/emulator`) and its load generator as processes, and the map from an application's
leader pods to emulator groups that stands in for pod networking on the fake (KWOK) nodes.

Pods on KWOK nodes run no container and their IPs lead nowhere, so each leader pod is given an emulator group: a
Prometheus target (the group's metrics path, labelled with the pod's namespace and name) and, once the pod is Ready,
a load target (as a Service would list a Ready endpoint).
"""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from support.processes import terminate
from support.prometheus import Target

ROOT = Path(__file__).resolve().parents[2]


class Emulator:
    """`python -m bench.emulator` on a free loopback port with `groups` groups (group i under `/groups/<i>`)."""

    def __init__(self, workdir: Path, groups: int, extra_args: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.groups = groups
        self.extra_args = list(extra_args)
        self.log_file = workdir / "emulator.log"
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "bench.emulator", "--port", "0", "--groups", str(self.groups), *self.extra_args]
        log = self.log_file.open("ab")
        self._proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            raise TimeoutError(f"the emulator printed nothing within {timeout}s; see {self.log_file}")
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator exited with {self._proc.wait()}; see {self.log_file}")
        self.url = json.loads(line)["url"]
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as resp:
            assert resp.status == 200

    def group_url(self, group: int) -> str:
        return f"{self.url}/groups/{group}"

    def target(self, group: int, namespace: str, pod: str) -> Target:
        return Target(urlsplit(self.url).netloc, f"/groups/{group}/metrics", namespace, pod)

    def metrics(self, group: int) -> str:
        with urllib.request.urlopen(f"{self.group_url(group)}/metrics", timeout=5) as resp:
            text: str = resp.read().decode()
            return text

    def stop(self) -> None:
        terminate(self._proc, grace=20)


class LoadGenerator:
    """`python -m bench.emulator.load` sending to the URLs in `targets_file` (re-read every second)."""

    def __init__(self, workdir: Path, targets_file: Path, name: str) -> None:
        self.workdir = workdir
        self.targets_file = targets_file
        self.report_file = workdir / f"load-{name}.json"
        self.log_file = workdir / f"load-{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, rps: float, duration: float, prompt_tokens: int, max_tokens: int, seed: int = 0) -> None:
        args = [
            sys.executable, "-m", "bench.emulator.load", "--targets-file", str(self.targets_file), "--rps", str(rps),
            "--duration", str(duration), "--prompt-tokens", str(prompt_tokens), "--max-tokens", str(max_tokens),
            "--seed", str(seed), "--grace", "10",
        ]  # fmt: skip
        out, log = self.report_file.open("wb"), self.log_file.open("ab")
        self._proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=log)

    def wait(self, timeout: float) -> dict[str, Any]:
        """Let the generator finish its `duration` (and answers), then its report."""
        assert self._proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):  # stop() below ends it and still reads its report
            self._proc.wait(timeout=timeout)
        return self.stop()

    def stop(self) -> dict[str, Any]:
        """SIGTERM (stop sending, wait for the answers in flight) and the generator's report."""
        if self._proc is None:
            return {}
        terminate(self._proc)  # SIGTERM: it stops sending, waits for the answers in flight, reports
        text = self.report_file.read_text().strip()
        report: dict[str, Any] = json.loads(text) if text else {"exit": self._proc.returncode}
        return report


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class GroupMap:
    """Leader pod → emulator group, fresh for every new pod (by uid), so a new group starts with empty counters as a
    new vLLM would. Released groups are reused only when every group has been used once."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._by_uid: dict[str, int] = {}
        self._never_used = list(range(emulator.groups))
        self._released: list[int] = []

    def sync(self, namespace: str, pods: Sequence[dict[str, Any]]) -> tuple[list[Target], list[str]]:
        """The Prometheus targets (every leader pod) and the load targets (Ready ones) for these leader pods."""
        live = {p["metadata"]["uid"]: p for p in pods if not p["metadata"].get("deletionTimestamp")}
        for uid in [u for u in self._by_uid if u not in live]:
            self._released.append(self._by_uid.pop(uid))
        for uid in sorted(live, key=lambda u: live[u]["metadata"]["name"]):
            if uid not in self._by_uid:
                pool = self._never_used or self._released
                if not pool:
                    raise RuntimeError(f"more leader pods than the emulator's {self._emulator.groups} groups")
                self._by_uid[uid] = pool.pop(0)
        targets, urls = [], []
        for uid, group in sorted(self._by_uid.items(), key=lambda kv: kv[1]):
            pod = live[uid]
            targets.append(self._emulator.target(group, namespace, pod["metadata"]["name"]))
            if _ready(pod):
                urls.append(self._emulator.group_url(group))
        return targets, urls

    def group_of(self, uid: str) -> int | None:
        return self._by_uid.get(uid)


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """Replace `path` atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines))
    tmp.replace(path)
