"""Control-plane speed at millisecond resolution, side by side with the API server's own limit, in one run.

On a private local cluster with the five services as separate processes (as `run.py`), one client (16
requests in flight) measures in turn:
  1. raw: N LeaderWorkerSets created directly (0 groups: no pods follow them, but the LeaderWorkerSet controller
     still gives each a StatefulSet and a status): the physical limit of one client creating this kind on this API
     server, its webhook included;
  2. burst (--groups replica groups each, 1 by default; with 0 no pods follow them either, as none follow the raw
     ones, and they are Running once scaled to zero), once the controller is done with the raw ones (each has a
     status, and nothing changed there for --settle seconds: before 2026-12-06 the burst began at once and shared
     the machine with ~30 s of that work):
     N ArksApplications created the same way; a watch on LeaderWorkerSets and one on applications note
     when each application's LeaderWorkerSet appears and when it turns Running. Throughput = N / (last
     LeaderWorkerSet seen - first create sent), and its ratio to the raw rate; and the API requests per
     application until all are Running, as the API server's own counter has them;
  3. single: applications created one at a time on the idle stack (once no application of the burst changed for
     --settle seconds), each waited for: apply -> LeaderWorkerSet;
  4. steady: applications created at a fixed rate (10/s) for a while: apply -> LeaderWorkerSet;
  5. the resident memory of each service at the end, with every application of the run present;
  6. with --present N: more applications of --present-groups groups (0 by default: no pods, so only the control
     plane's own objects; 1: a pod each, which the deployer's watch of the applications' pods follows) until N
     are present, each waited to its LeaderWorkerSet, then the memory again once no application changed for
     --quiet seconds (a resync of every watcher meanwhile must not republish them: see the watcher's metrics);
  7. with --restart too: every service stopped and started again with the N applications present (what a rollout
     or a crash meets: each lists everything it follows at once), and the memory once no application changed for
     --quiet seconds after all are ready, and each service's peak since its start (VmHWM: the relists').
Times are this client's clock (sent: just before the create; seen: when the watch delivers the object). Usage:

    uv run python -m bench.controlplane.burst --apps 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the real-server harness the e2e suite uses
sys.path.insert(0, str(ROOT / "bench"))  # the request counting of the sibling benchmark

from arks_common.kube.client import Kube, KubeError, load_api_client  # noqa: E402
from arks_common.kube.resources import APPLICATIONS, LEADERWORKERSETS  # noqa: E402
from controlplane.requests import READS, scrape  # noqa: E402
from controlplane.stack import cpu_seconds, fake_gpu_nodes, local_stack, machine_busy_seconds, others, rss_mib  # noqa: E402
from support.e2e import Env  # noqa: E402

IN_FLIGHT = 16


def application(name: str, groups: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksApplication",
        "metadata": {"name": name},
        "spec": {
            "replicas": groups,
            "model": {"name": "qwen-7b"},
            "instanceSpec": {"replicas": 1, "resources": {"requests": {"cpu": "1m"}}},
        },
    }


def raw_group_set(name: str) -> dict[str, Any]:
    container = {"name": "main", "image": "registry.invalid/none:1", "resources": {"requests": {"cpu": "1m"}}}
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "leaderWorkerTemplate": {"size": 1, "workerTemplate": {"spec": {"containers": [container]}}},
        },
    }


class Seen:
    """First time a watch delivered each name (optionally: only once `accept` says so)."""

    def __init__(self, accept: Callable[[dict[str, Any]], bool] = lambda _: True) -> None:
        self.at: dict[str, float] = {}
        self._accept = accept
        self.changed = asyncio.Event()
        self._any_change = asyncio.Event()

    async def _listed(self, kube: Kube, res: Any, namespace: str) -> str:
        """Lists; what is there and not seen yet is seen now, if accepted. Returns the list's resourceVersion."""
        listed, rv = await kube.list(res, namespace)
        for obj in listed:
            name = (obj.get("metadata") or {}).get("name", "")
            if name not in self.at and self._accept(obj):
                self.at[name] = time.monotonic()
                self.changed.set()
        return str(rv)

    async def follow(self, kube: Kube, res: Any, namespace: str) -> None:
        rv = await self._listed(kube, res, namespace)
        while True:
            try:
                async for kind, obj in kube.watch(res, rv, 300):
                    meta = obj.get("metadata") or {}
                    rv = str(meta.get("resourceVersion", rv))
                    name = meta.get("name", "")
                    if kind != "BOOKMARK":
                        self._any_change.set()
                    if kind == "BOOKMARK" or meta.get("namespace") != namespace or name in self.at:
                        continue
                    if self._accept(obj):
                        self.at[name] = time.monotonic()
                        self.changed.set()
            except KubeError as exc:
                if exc.status == 410:  # the version expired: list again, and count the gap as a change
                    rv = await self._listed(kube, res, namespace)
                    self._any_change.set()
                await asyncio.sleep(0.2)

    async def wait_for(self, names: set[str], within: float) -> None:
        deadline = time.monotonic() + within
        while not names <= self.at.keys():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"only {len(names & self.at.keys())} of {len(names)} seen within {within:.0f} s")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                continue

    async def quiet(self, seconds: float, within: float) -> bool:
        """Returns True once no object changed for `seconds`, False (and says so) when `within` passed first."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self._any_change.clear()
            wait = min(seconds, max(0.0, deadline - time.monotonic()))
            try:
                await asyncio.wait_for(self._any_change.wait(), wait)
            except TimeoutError:
                if wait >= seconds:  # a whole quiet spell, not the deadline's remainder
                    return True
                break
        print(f"warning: objects still changed after {within:.0f} s; going on without {seconds:g} s of quiet")
        return False


async def create_all(kube: Kube, res: Any, namespace: str, objs: list[dict[str, Any]]) -> dict[str, float]:
    """Creates with IN_FLIGHT requests at once; returns when each create was sent."""
    sent: dict[str, float] = {}
    queue = list(reversed(objs))

    async def worker() -> None:
        while queue:
            obj = queue.pop()
            sent[obj["metadata"]["name"]] = time.monotonic()
            await kube.create(res, namespace, obj)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return sent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_row(label: str, values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    return f"| {label} | {len(ms)} | {statistics.median(ms):.0f} | {pct(ms, 0.99):.0f} | {max(ms):.0f} |"


async def measure(env: Env, args: argparse.Namespace) -> None:
    kube = Kube(await load_api_client(str(env.cluster.kubeconfig)), "bench")
    for ns in ("raw", "burst", "single", "steady", "scale"):
        env.kubectl("create", "namespace", ns)
    model = yaml.safe_load((ROOT / "deploy/samples/quickstart/model.yaml").read_text())
    for ns in ("burst", "single", "steady", "scale"):
        env.ready_model(ns, model)

    # 1. raw
    raw_names = [f"raw-{i:05d}" for i in range(args.apps)]
    started = time.monotonic()
    await create_all(kube, LEADERWORKERSETS, "raw", [raw_group_set(n) for n in raw_names])
    raw_rate = args.apps / (time.monotonic() - started)
    # the LeaderWorkerSet controller works on the raw objects for a while after the last create (a StatefulSet and
    # a status each: ~30 s for 1,000 here); the burst must not share the machine with that
    settled = Seen(lambda o: bool((o.get("status") or {}).get("conditions")))
    settling = asyncio.create_task(settled.follow(kube, LEADERWORKERSETS, "raw"))
    await settled.wait_for(set(raw_names), args.timeout)
    raw_settled = max(settled.at.values()) - started
    await settled.quiet(args.settle, args.timeout)
    settling.cancel()  # no watch of its own left open during the burst

    lws_seen, running_seen = Seen(), Seen(lambda o: (o.get("status") or {}).get("phase") == "Running")
    followers = [
        asyncio.create_task(lws_seen.follow(kube, LEADERWORKERSETS, ns))
        for ns in ("burst", "single", "steady", "scale")
    ]
    followers.append(asyncio.create_task(running_seen.follow(kube, APPLICATIONS, "burst")))

    # 2. burst
    names = [f"burst-{i:05d}" for i in range(args.apps)]
    requests_before = scrape(env.cluster)
    services = {name: proc.pid for name, proc in env.system.services.items() if proc.pid is not None}
    rest = others(env)
    watched = {**services, **rest}  # the names differ: service names, and the rest's (apiserver, etcd, ...)
    cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    busy_before = machine_busy_seconds()
    sent = await create_all(kube, APPLICATIONS, "burst", [application(n, groups=args.groups) for n in names])
    await lws_seen.wait_for(set(names), args.timeout)
    first = min(sent.values())
    cores_busy = (machine_busy_seconds() - busy_before) / (time.monotonic() - first)
    burst_rate = args.apps / (max(lws_seen.at[n] for n in names) - first)
    await running_seen.wait_for(set(names), args.timeout)
    running_rate = args.apps / (max(running_seen.at[n] for n in names) - first)
    requests = scrape(env.cluster)
    requests.subtract(requests_before)
    reads = sum(n for (verb, _), n in requests.items() if verb.lower() in READS) / args.apps
    writes = sum(n for (verb, _), n in requests.items() if verb.lower() not in READS) / args.apps
    to_lws = [lws_seen.at[n] - sent[n] for n in names]

    # 3. single, on the idle stack: once the burst's applications have stopped changing
    await running_seen.quiet(args.settle, args.timeout)
    # the services' CPU for the whole burst, until its applications stopped changing (the machine's 2 cores are
    # what bounds the burst: this is where they went, per application)
    spent_ms = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / args.apps for name, pid in watched.items()}
    cpu_ms = {name: spent_ms[name] for name in services}
    rest_ms = {name: spent_ms[name] for name in rest}
    busy_ms = (machine_busy_seconds() - busy_before) * 1000 / args.apps
    singles = []
    for i in range(args.single):
        name = f"single-{i:04d}"
        at = time.monotonic()
        await kube.create(APPLICATIONS, "single", application(name))
        await lws_seen.wait_for({name}, 60)
        singles.append(lws_seen.at[name] - at)

    # 4. steady rate
    steady: list[float] = []
    count = int(args.rate * args.seconds)
    begin = time.monotonic()

    async def one(i: int) -> None:
        name = f"steady-{i:05d}"
        await asyncio.sleep(max(0.0, begin + i / args.rate - time.monotonic()))
        at = time.monotonic()
        await kube.create(APPLICATIONS, "steady", application(name))
        await lws_seen.wait_for({name}, args.timeout)
        steady.append(lws_seen.at[name] - at)

    await asyncio.gather(*(one(i) for i in range(count)))

    memory = {name: rss_mib(proc.pid) for name, proc in env.system.services.items() if proc.pid is not None}
    present = args.apps + args.single + count

    # 6. memory with many applications present
    at_scale: dict[str, float] = {}
    if args.present > present:
        app_changes = Seen()
        followers.append(asyncio.create_task(app_changes.follow(kube, APPLICATIONS, "scale")))
        more = [f"scale-{i:05d}" for i in range(args.present - present)]
        await create_all(kube, APPLICATIONS, "scale", [application(n, groups=args.present_groups) for n in more])
        await lws_seen.wait_for(set(more), args.timeout)
        await app_changes.quiet(args.quiet, args.timeout)
        at_scale = {name: rss_mib(proc.pid) for name, proc in env.system.services.items() if proc.pid is not None}

    # 7. memory after a restart with them present
    restarted: dict[str, float] = {}
    restart_peak: dict[str, float] = {}
    if at_scale and args.restart:
        for proc in env.system.services.values():
            await asyncio.to_thread(proc.stop)
            await asyncio.to_thread(proc.start, 300.0)
        await app_changes.quiet(args.quiet, args.timeout)
        restarted = {name: rss_mib(proc.pid) for name, proc in env.system.services.items() if proc.pid is not None}
        restart_peak = {
            name: rss_mib(proc.pid, "VmHWM") for name, proc in env.system.services.items() if proc.pid is not None
        }
    for task in followers:
        task.cancel()
    await kube.close()

    print(
        f"applications: burst {args.apps} of {args.groups} group(s) each, single {args.single}, steady {count} "
        f"({args.rate}/s for {args.seconds} s)"
    )
    print(f"one client, {IN_FLIGHT} creates in flight; services as separate processes on a 2-core machine")
    print(
        f"the LeaderWorkerSet controller gave the last raw one its status {raw_settled:.1f} s after the first create; "
        f"the burst began once nothing changed there for {args.settle:g} s, the one-at-a-time phase once no "
        f"application of the burst changed for as long"
    )
    print("| throughput | per second | ratio to raw |")
    print("|---|---:|---:|")
    print(f"| raw LeaderWorkerSet creates | {raw_rate:.1f} | 1.00 |")
    print(f"| Arks burst: applications to LeaderWorkerSet | {burst_rate:.1f} | {burst_rate / raw_rate:.2f} |")
    print(f"| Arks burst: applications to Running | {running_rate:.1f} | {running_rate / raw_rate:.2f} |")
    print(
        f"API requests per application of the burst, until all Running (apiserver_request_total, all clients: "
        f"Arks, LeaderWorkerSet, Kubernetes' own controllers, KWOK): {reads:.1f} reads, {writes:.1f} writes "
        "(per client: bench.controlplane.requests)"
    )
    print(
        "CPU per application of the burst (ms, until its applications stopped changing): "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in cpu_ms.items())
        + f"; all services {sum(cpu_ms.values()):.1f}"
    )
    print(
        "... the rest of the stack: "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in rest_ms.items())
        + f"; the whole machine (every process, /proc/stat) {busy_ms:.1f}, so {os.cpu_count()} cores allow at most "
        f"{1000 * (os.cpu_count() or 1) / busy_ms:.1f} applications/s at this cost"
    )
    print(
        f"cores busy during the burst (first create to last LeaderWorkerSet seen, every process): {cores_busy:.2f} of "
        f"{os.cpu_count()}"
    )
    print("| apply → LeaderWorkerSet (ms) | n | p50 | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    print(latency_row(f"burst of {args.apps}", to_lws))
    print(latency_row("one at a time, idle", singles))
    print(latency_row(f"steady {args.rate}/s", steady))
    columns = [(f"with {present} applications", memory)]
    if at_scale:
        columns.append((f"with {args.present} ({args.present - present} of {args.present_groups} groups)", at_scale))
    if restarted:
        columns.append((f"with {args.present}, every service restarted", restarted))
        columns.append(("its peak since the restart (VmHWM)", restart_peak))
    print("| service (RSS, MiB) | " + " | ".join(label for label, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name in memory:
        print(f"| {name} | " + " | ".join(f"{col.get(name, float('nan')):.0f}" for _, col in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=300, help="burst size (and raw LeaderWorkerSets)")
    parser.add_argument(
        "--groups",
        type=int,
        default=1,
        help="replica groups of each burst application (0: no pods follow them, as none follow the raw ones)",
    )
    parser.add_argument("--single", type=int, default=50, help="applications created one at a time")
    parser.add_argument("--rate", type=float, default=10.0, help="steady creates per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the steady rate lasts")
    parser.add_argument("--present", type=int, default=0, help="then grow to this many applications for memory")
    parser.add_argument(
        "--present-groups", type=int, default=0, help="replica groups of each --present application (1: a pod each)"
    )
    parser.add_argument("--restart", action="store_true", help="with --present: restart every service, read again")
    parser.add_argument("--quiet", type=float, default=30.0, help="seconds without an application change before")
    parser.add_argument("--settle", type=float, default=5.0, help="quiet seconds before the burst and the single phase")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    created = args.apps + args.single + int(args.rate * args.seconds)
    pods = max(1000, (created + max(0, args.present - created) * args.present_groups) // 4 + 100)
    with local_stack("arks-bench-", fake_gpu_nodes("bench", pods)) as env:
        asyncio.run(measure(env, args))


if __name__ == "__main__":
    main()
