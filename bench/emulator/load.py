"""`python -m bench.emulator.load`: a bounded open-loop load (Poisson arrivals) against emulator groups.

One job: send OpenAI-style completions at a rate, spread over the targets like a load balancer (least outstanding
requests of two random choices, Envoy's LEAST_REQUEST), and print a JSON report. Loopback targets only; it stops at
`--duration` seconds, `--max-requests` requests or SIGTERM/SIGINT, whichever comes first, then waits at most
`--grace` seconds for answers. It must not be pointed at anything but a local emulator.

Targets are base URLs (`http://127.0.0.1:8000/groups/1`); with `--targets-file` the file (one URL a line) is re-read
every second, so a test can move the load to the groups that are currently serving.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

MAX_RPS = 500.0
MAX_DURATION = 3600.0


def require_loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError
        except ValueError:
            raise ValueError(f"{url}: the load generator sends to loopback addresses only") from None
    return url.rstrip("/")


@dataclass
class Report:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    unanswered: int = 0  # still in flight when the grace period ended
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    per_target: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies)

        def q(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, math.ceil(p * len(lat)) - 1)], 3) if lat else None

        return {
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "unanswered": self.unanswered,
            "seconds": round(self.seconds, 1),
            "latency_p50_s": q(0.5),
            "latency_p90_s": q(0.9),
            "per_target": dict(self.per_target),
            "errors": dict(self.errors.most_common(5)),
        }


async def generate(
    targets: Callable[[], Sequence[str]],
    rps: float,
    duration: float,
    *,
    max_requests: int,
    prompt_tokens: int = 256,
    max_tokens: int = 64,
    seed: int = 0,
    grace: float = 30.0,
    stop: asyncio.Event | None = None,
) -> Report:
    """Poisson arrivals at `rps` for `duration` seconds; each request goes to the less busy of two random targets."""
    if not 0 < rps <= MAX_RPS or not 0 < duration <= MAX_DURATION or max_requests < 1:
        raise ValueError(f"need 0 < rps <= {MAX_RPS}, 0 < duration <= {MAX_DURATION} and max_requests >= 1")
    stop = stop or asyncio.Event()
    rng = random.Random(seed)
    report = Report()
    in_flight: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()
    prompt = " ".join(["tok"] * max(1, prompt_tokens - 1))  # about one token per four characters: ~prompt_tokens
    timeout = aiohttp.ClientTimeout(total=duration + grace + 60.0)

    async def one(session: aiohttp.ClientSession, base: str) -> None:
        in_flight[base] += 1
        started = time.monotonic()
        try:
            body = {"prompt": prompt, "max_tokens": max_tokens}
            async with session.post(f"{base}/v1/completions", json=body) as resp:
                await resp.read()
                if resp.status == 200:
                    report.ok += 1
                    report.latencies.append(time.monotonic() - started)
                else:
                    report.failed += 1
                    report.errors[f"HTTP {resp.status}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            report.failed += 1
            report.errors[type(exc).__name__] += 1
        finally:
            in_flight[base] -= 1

    begin = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        next_at = begin
        while not stop.is_set() and report.sent < max_requests:
            next_at += rng.expovariate(rps)
            if next_at - begin > duration:
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - time.monotonic()))
                break
            except TimeoutError:
                pass
            live = [require_loopback(t) for t in targets()]
            if not live:
                report.errors["no target"] += 1
                continue
            pair = rng.sample(live, 2) if len(live) > 1 else live
            base = min(pair, key=lambda t: in_flight[t])
            report.sent += 1
            report.per_target[base] += 1
            task = asyncio.create_task(one(session, base), name=f"request {report.sent}")
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            _, pending = await asyncio.wait(set(tasks), timeout=grace)
            report.unanswered = len(pending)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    report.seconds = time.monotonic() - begin
    return report


class TargetsFile:
    """The URLs in a file, one a line, re-read at most once a second (a missing file means no target yet)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._read_at = -math.inf
        self._urls: list[str] = []

    def __call__(self) -> list[str]:
        now = time.monotonic()
        if now - self._read_at >= 1.0:
            self._read_at = now
            try:
                lines = self._path.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            self._urls = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return self._urls


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.emulator.load", description=__doc__)
    p.add_argument("--url", action="append", default=[], help="a target base URL (repeatable)")
    p.add_argument("--targets-file", type=Path, help="a file of target base URLs, re-read every second")
    p.add_argument("--rps", type=float, required=True, help=f"requests per second (at most {MAX_RPS:g})")
    p.add_argument("--duration", type=float, required=True, help=f"seconds (at most {MAX_DURATION:g})")
    p.add_argument("--max-requests", type=int, default=0, help="stop after this many (default: 1.5 x rps x duration)")
    p.add_argument("--prompt-tokens", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grace", type=float, default=30.0, help="seconds to wait for answers after the last request")
    args = p.parse_args(argv)
    if not args.url and args.targets_file is None:
        p.error("give --url or --targets-file")
    try:
        args.url = [require_loopback(u) for u in args.url]
    except ValueError as exc:
        p.error(str(exc))
    return args


async def run(args: argparse.Namespace) -> Report:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    fixed: list[str] = list(args.url)
    from_file = TargetsFile(args.targets_file) if args.targets_file is not None else None

    def targets() -> list[str]:
        return fixed + (from_file() if from_file is not None else [])

    max_requests = args.max_requests or math.ceil(1.5 * args.rps * args.duration) + 10
    return await generate(
        targets,
        args.rps,
        args.duration,
        max_requests=max_requests,
        prompt_tokens=args.prompt_tokens,
        max_tokens=args.max_tokens,
        seed=args.seed,
        grace=args.grace,
        stop=stop,
    )


def main(argv: Sequence[str] | None = None) -> int:
    report = asyncio.run(run(parse_args(argv)))
    print(json.dumps(report.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
