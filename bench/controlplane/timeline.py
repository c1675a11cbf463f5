"""Where one application's time to its LeaderWorkerSet goes, step by step, from the services' own traces.

On a private local cluster with the five services as processes (tracing to a JSON-lines file, each span with its
wall-clock start and end), applications are created one at a time on the idle stack, each waited for until its
LeaderWorkerSet appears (the same measure as `burst.py`'s "one at a time"). Every span whose subject names the
application (its object events, its plan, its LeaderWorkerSet's events) is then laid out relative to the create:
which service handled what, when it started and how long it took. Printed: the median of each step over the
applications, and the whole timeline of the median application. Usage:

    uv run python -m bench.controlplane.timeline --apps 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from arks_common.kube.client import Kube, load_api_client  # noqa: E402
from arks_common.kube.resources import APPLICATIONS, LEADERWORKERSETS  # noqa: E402
from controlplane.burst import Seen, application, create_all  # noqa: E402
from controlplane.stack import fake_gpu_nodes, local_stack  # noqa: E402
from support.e2e import Env  # noqa: E402

NAMESPACE = "timeline"
Step = tuple[str, str, int]
"""(service, span name, the how-many-th such span of this application)."""


def steps_of(spans: list[dict[str, Any]], name: str, created: float) -> list[tuple[Step, float, float, str]]:
    """The spans of one application's subjects, in start order: (step, start and end in ms after the create, the
    span id)."""
    suffix = f".{NAMESPACE}.{name}"
    mine = [
        s
        for s in spans
        if str((s.get("attributes") or {}).get("messaging.destination", "")).endswith(suffix) and s.get("start")
    ]
    mine.sort(key=lambda s: s["start"])
    count: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for s in mine:
        key = (str(s["service"]).removeprefix("arks-"), str(s["name"]))
        count[key] += 1
        step = (key[0], key[1], count[key])
        out.append((step, (s["start"] - created) * 1000, (s["end"] - created) * 1000, str(s["span_id"])))
    return out


async def measure(env: Env, apps: int, present: int) -> None:
    kube = Kube(await load_api_client(str(env.cluster.kubeconfig)), "bench")
    model = yaml.safe_load((ROOT / "deploy/samples/quickstart/model.yaml").read_text())
    for namespace in (NAMESPACE, "present"):
        env.kubectl("create", "namespace", namespace)
        env.ready_model(namespace, model)
    if present:  # others already there (one group each, so pods too), all Running and quiet before we start
        running = Seen(lambda o: (o.get("status") or {}).get("phase") == "Running")
        watching = asyncio.create_task(running.follow(kube, APPLICATIONS, "present"))
        names = [f"present-{i:05d}" for i in range(present)]
        await create_all(kube, APPLICATIONS, "present", [application(n) for n in names])
        await running.wait_for(set(names), 1800)
        await running.quiet(10, 300)
        watching.cancel()
    lws_seen = Seen()
    follower = asyncio.create_task(lws_seen.follow(kube, LEADERWORKERSETS, NAMESPACE))
    wall = time.time() - time.monotonic()
    created: dict[str, float] = {}
    for i in range(apps):
        name = f"app-{i:04d}"
        created[name] = time.monotonic()
        await kube.create(APPLICATIONS, NAMESPACE, application(name))
        await lws_seen.wait_for({name}, 60)
        await asyncio.sleep(0.5)  # let the step's trailing writes (status, Events) finish before the next one
    follower.cancel()
    await kube.close()
    await asyncio.sleep(1.0)  # the last spans reach the file

    spans = [json.loads(line) for line in env.trace_file.read_text().splitlines() if line.strip()]
    to_lws = {n: (lws_seen.at[n] - created[n]) * 1000 for n in created}
    per_step: dict[Step, list[tuple[float, float]]] = defaultdict(list)
    timelines = {}
    for name, at in created.items():
        timelines[name] = steps_of(spans, name, at + wall)
        for step, start, end, _ in timelines[name]:
            per_step[step].append((start, end))

    print(
        f"{apps} applications one at a time; apply -> LeaderWorkerSet seen (ms): p50 "
        f"{statistics.median(to_lws.values()):.0f}, max {max(to_lws.values()):.0f}"
    )
    print("| service | span | # | in n apps | start p50 (ms) | took p50 (ms) |")
    print("|---|---|---:|---:|---:|---:|")
    for step, times in sorted(per_step.items(), key=lambda kv: statistics.median(t[0] for t in kv[1])):
        start = statistics.median(t[0] for t in times)
        took = statistics.median(t[1] - t[0] for t in times)
        print(f"| {step[0]} | {step[1]} | {step[2]} | {len(times)} | {start:.1f} | {took:.1f} |")
    median_app = sorted(to_lws, key=lambda n: to_lws[n])[len(to_lws) // 2]
    print(f"\nthe median application ({median_app}: LeaderWorkerSet seen at {to_lws[median_app]:.0f} ms):")
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        if s.get("parent_id") and str(s["name"]).startswith("kube "):
            children[str(s["parent_id"])].append(s)
    at = created[median_app] + wall
    for step, start, end, span_id in timelines[median_app]:
        print(f"  {start:8.1f} .. {end:8.1f} ms  {step[0]:<13} {step[1]} #{step[2]}")
        for call in sorted(children.get(span_id, []), key=lambda c: c["start"]):
            path = str((call.get("attributes") or {}).get("url.path", ""))
            begin, finish = (call["start"] - at) * 1000, (call["end"] - at) * 1000
            print(f"  {begin:8.1f} .. {finish:8.1f} ms      {call['name']} {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=30, help="applications created one at a time")
    parser.add_argument("--present", type=int, default=0, help="applications (one group each) created first")
    args = parser.parse_args()
    with local_stack("arks-timeline-", fake_gpu_nodes("timeline", pods=1000), tracing=True) as env:
        asyncio.run(measure(env, args.apps, args.present))


if __name__ == "__main__":
    main()
