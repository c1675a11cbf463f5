"""What one Kubernetes API request costs the client's own CPU: the Arks client (`arks_common.kube.client.Kube`, over
aiohttp and TLS) against a real local kube-apiserver, with nothing else running.

Every Arks service is a Python process whose work per application is mostly API requests (the burst benchmark
prints the services' CPU per application); this isolates the client's share of it. A ConfigMap is read (GET) and
server-side applied (PATCH) N times one after another, then N times 16 at a time (as a burst keeps requests in
flight); the process's user + system CPU per request and the wall time per request are printed. Usage:

    uv run python -m bench.controlplane.client --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from arks_common.kube.client import Kube, load_api_client  # noqa: E402
from arks_common.kube.resources import Resource  # noqa: E402
from arks_localcluster.build import build_all  # noqa: E402
from arks_localcluster.cluster import LocalCluster  # noqa: E402

CONFIG_MAPS = Resource(group="", version="v1", plural="configmaps", kind="ConfigMap")
IN_FLIGHT = 16
WARMUP = 50


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(label: str, request: Callable[[], Awaitable[Any]], count: int, in_flight: int) -> None:
    rounds = max(1, count // in_flight)
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(rounds):
        await asyncio.gather(*(request() for _ in range(in_flight)))
    done = rounds * in_flight
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    print(f"| {label} | {in_flight} | {done} | {1000 * cpu / done:.3f} | {1000 * wall / done:.3f} |")


async def measure(kubeconfig: str, count: int) -> None:
    kube = Kube(await load_api_client(kubeconfig), "bench")
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": "default"}}
    obj["data"] = {"key": "value"}
    try:
        await kube.apply(CONFIG_MAPS, obj)
        print("| request | in flight | n | client CPU per request (ms) | wall per request (ms) |")
        print("|---|---:|---:|---:|---:|")
        kinds: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("GET", lambda: kube.get(CONFIG_MAPS, "default", "probe")),
            ("server-side apply", lambda: kube.apply(CONFIG_MAPS, obj)),
        ]
        for label, request in kinds:
            for _ in range(WARMUP):  # connections open, code paths warm
                await request()
            for in_flight in (1, IN_FLIGHT):
                await timed(label, request, count, in_flight)
    finally:
        await kube.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests of each kind and concurrency")
    args = parser.parse_args()
    build_all()
    with tempfile.TemporaryDirectory(prefix="arks-client-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster")
        cluster.start()
        try:
            asyncio.run(measure(str(cluster.kubeconfig), args.requests))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
