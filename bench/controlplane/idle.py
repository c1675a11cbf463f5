"""Resident memory of each service on an idle stack: what a service costs before it holds any application.

Starts the same private stack as `burst.py` (local cluster, nats-server, the five services as separate processes
with their charts' identities), lets it settle, then samples each service's RSS a few times and prints the medians.
Usage:

    uv run python -m bench.controlplane.idle
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from controlplane.stack import local_stack, rss_mib  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds after start before sampling")
    parser.add_argument("--samples", type=int, default=5, help="RSS samples per service, 2 s apart")
    args = parser.parse_args()
    with local_stack("arks-idle-") as env:
        time.sleep(args.settle)  # start-up work (lists, watches, partitions) done: the idle footprint
        samples: dict[str, list[float]] = {name: [] for name in env.system.services}
        for _ in range(args.samples):
            for name, proc in env.system.services.items():
                if proc.pid is not None:
                    samples[name].append(rss_mib(proc.pid))
            time.sleep(2.0)
    print("| service | idle RSS (MiB), median |")
    print("|---|---:|")
    for name, values in samples.items():
        print(f"| {name} | {statistics.median(values):.0f} |" if values else f"| {name} | not running |")


if __name__ == "__main__":
    main()
