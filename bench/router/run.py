"""The ArksEndpoint router's cost and balance on loopback: `python -m bench.router.run`.

Starts three runtime emulators (model-a on a fast and on a twice-as-slow "GPU", model-b on one) and the real
router (smg 1.13.0, as the endpoint runs it: `--enable-igw`, power_of_two on requests in flight, the workers
from a file-discovery manifest), then measures, side by side in one run (direct and routed blocks interleaved):

- added latency: p50/p99 of one-token completions at concurrency 1, direct to model-b's emulator vs through the
  router;
- throughput: one-token completions at concurrency 32, direct vs routed;
- balance: where 1,000 model-a requests go (ideal 2:1 for the fast one) and what an unknown model gets.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from arks_common.api import RouterPolicy
from arks_planner.core.endpoint import discovery_manifest, policy_args

ROOT = Path(__file__).resolve().parents[2]
INSTANCE_HEADER = "X-Emulator-Instance"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(name: str, model: str, slowdown: float) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "bench.emulator", "--port", "0", "--slowdown", str(slowdown)]
    args += ["--served-model-name", model, "--instance", name]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, str(json.loads(proc.stdout.readline())["url"])


def smg_binary() -> str:
    found = shutil.which("smg") or str(Path(sys.executable).with_name("smg"))
    if not Path(found).exists():
        raise SystemExit("smg is not installed: `uv sync --all-packages` installs smg 1.13.0")
    return found


async def wait_models(session: aiohttp.ClientSession, url: str, models: set[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{url}/v1/models") as r:
                if r.status == 200 and models <= {m["id"] for m in (await r.json())["data"]}:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"the router did not list {sorted(models)} in time")


async def complete(session: aiohttp.ClientSession, url: str, model: str, tokens: int) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    body = {"model": model, "prompt": "hello world", "max_tokens": tokens}
    async with session.post(f"{url}/v1/completions", json=body) as r:
        await r.read()
        return r.status, r.headers.get(INSTANCE_HEADER, ""), time.perf_counter() - t0


async def latencies(session: aiohttp.ClientSession, url: str, model: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        status, _, seconds = await complete(session, url, model, 1)
        assert status == 200, status
        out.append(seconds)
    return out


async def throughput(session: aiohttp.ClientSession, url: str, model: str, n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            status, _, _ = await complete(session, url, model, 1)
            assert status == 200, status

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def measure(args: argparse.Namespace, router: str, direct_b: str) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await wait_models(session, router, {"model-a", "model-b"}, time.monotonic() + 30)
        await latencies(session, router, "model-b", 50)  # warm both paths' connections
        await latencies(session, direct_b, "model-b", 50)
        lat: dict[str, list[float]] = {"direct": [], "router": []}
        rps: dict[str, list[float]] = {"direct": [], "router": []}
        for _ in range(args.rounds):
            for label, url in (("direct", direct_b), ("router", router)):
                lat[label] += await latencies(session, url, "model-b", args.requests // args.rounds)
                rps[label].append(await throughput(session, url, "model-b", args.requests, 32))
        split: collections.Counter[str] = collections.Counter()
        sem = asyncio.Semaphore(32)

        async def routed() -> None:
            async with sem:
                status, instance, _ = await complete(session, router, "model-a", 32)
                split[instance if status == 200 else f"HTTP {status}"] += 1

        await asyncio.gather(*(routed() for _ in range(1000)))
        unknown, _, _ = await complete(session, router, "no-such-model", 1)
    print(f"requests per measurement: {args.requests}, rounds: {args.rounds} (direct and routed interleaved)")
    print("| path | p50 (ms) | p99 (ms) | throughput at concurrency 32 (req/s, median) |")
    print("|---|---|---|---|")
    for label in ("direct", "router"):
        p50, p99, median_rps = pct(lat[label], 0.5), pct(lat[label], 0.99), statistics.median(rps[label])
        print(f"| {label} | {p50:.2f} | {p99:.2f} | {median_rps:.0f} |")
    print(f"added by the router: p50 {pct(lat['router'], 0.5) - pct(lat['direct'], 0.5):+.2f} ms")
    print(f"1,000 model-a requests at concurrency 32: {dict(sorted(split.items()))} (ideal a-fast 667, a-slow 333)")
    print(f"unknown model: HTTP {unknown}")


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.router.run", description=__doc__)
    p.add_argument("--requests", type=int, default=1000, help="requests per latency and throughput measurement")
    p.add_argument("--rounds", type=int, default=5, help="interleaved direct/routed rounds")
    args = p.parse_args()
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            emulators = {}
            for name, model, slowdown in (
                ("a-fast", "model-a", 1.0),
                ("a-slow", "model-a", 2.0),
                ("b", "model-b", 1.0),
            ):
                proc, url = start_emulator(name, model, slowdown)
                procs.append(proc)
                emulators[name] = url
            manifest = Path(tmp) / "workers.json"
            manifest.write_text(discovery_manifest(list(emulators.values())))
            port = free_port()
            cmd = [smg_binary(), "launch", *policy_args(RouterPolicy.POWER_OF_TWO), "--host", "127.0.0.1"]
            cmd += ["--port", str(port), "--prometheus-port", str(free_port()), "--log-level", "warn"]
            cmd += ["--discovery-provider", "file", "--discovery-file", str(manifest)]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True))
            asyncio.run(measure(args, f"http://127.0.0.1:{port}", emulators["b"]))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
