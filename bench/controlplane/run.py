"""Benchmark of the Arks control plane on the local cluster (real API server, NATS, services as processes).

Applies N one-pod applications at once (no GPU requested, on fake nodes that take 1,000 pods each, so thousands
fit) and reads, from the objects themselves, when each one's LeaderWorkerSet was created and when it turned Running:
  - apply to LeaderWorkerSet: LWS creationTimestamp minus the application's creationTimestamp;
  - apply to Ready: the Ready condition's lastTransitionTime minus the application's creationTimestamp;
  - throughput: applications per second until the last one is Running;
  - memory: resident set size of each service process at the end (from /proc).
Timestamps have one-second resolution (Kubernetes'), so latencies are reported in whole seconds; run enough
applications for the medians to mean something. Usage:

    uv run python -m bench.controlplane.run --apps 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from controlplane.stack import fake_gpu_nodes, local_stack, rss_mib  # noqa: E402


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _app(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksApplication",
        "metadata": {"name": f"bench-{i:05d}"},
        "spec": {
            "model": {"name": "qwen-7b"},
            "instanceSpec": {"replicas": 1, "resources": {"requests": {"cpu": "1m"}}},
        },
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    with local_stack("arks-bench-", fake_gpu_nodes("bench", pods=1000)) as env:
        env.kubectl("create", "namespace", "bench")
        model = yaml.safe_load((ROOT / "deploy/samples/quickstart/model.yaml").read_text())
        env.ready_model("bench", model)
        docs = yaml.safe_dump_all([_app(i) for i in range(args.apps)])
        started = time.time()
        env.kubectl("apply", "-n", "bench", "-f", "-", input=docs)
        applied = time.time()
        deadline = started + args.timeout
        while time.time() < deadline:
            apps = json.loads(env.kubectl("get", "arksapplications", "-n", "bench", "-o", "json"))["items"]
            running = sum(1 for a in apps if (a.get("status") or {}).get("phase") == "Running")
            if running == args.apps:
                break
            time.sleep(1)
        else:
            raise SystemExit(f"only {running} of {args.apps} applications Running after {args.timeout}s")
        finished = time.time()
        lwss = {
            o["metadata"]["name"]: _ts(o["metadata"]["creationTimestamp"])
            for o in json.loads(env.kubectl("get", "leaderworkersets", "-n", "bench", "-o", "json"))["items"]
        }
        to_lws, to_ready = [], []
        for app in apps:
            created = _ts(app["metadata"]["creationTimestamp"])
            to_lws.append(lwss[app["metadata"]["name"]] - created)
            ready = next(c for c in app["status"]["conditions"] if c["type"] == "Ready")
            to_ready.append(_ts(ready["lastTransitionTime"]) - created)
        memory = {name: rss_mib(proc.pid) for name, proc in env.system.services.items() if proc.pid is not None}
        print(f"applications: {args.apps} (1 pod each, on 4 fake GPU nodes; services as separate processes)")
        print(f"kubectl apply of all: {applied - started:.1f} s; all Running after {finished - started:.1f} s")
        print(f"throughput: {args.apps / (finished - started):.1f} applications/s to Running")
        print("| latency (s, 1 s resolution) | median | p90 | max |")
        print("|---|---|---|---|")
        for label, values in (("apply → LeaderWorkerSet", to_lws), ("apply → Ready", to_ready)):
            print(f"| {label} | {statistics.median(values):.0f} | {_pct(values, 0.9):.0f} | {max(values):.0f} |")
        print("| service | RSS (MiB) |")
        print("|---|---|")
        for name, mib in memory.items():
            print(f"| {name} | {mib:.0f} |")


if __name__ == "__main__":
    main()
