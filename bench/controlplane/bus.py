"""The bus's own limit for the scaling model, on a real nats-server: how many object events per second JetStream
stores through the partitioned stream (publishes acknowledged, up to 128 in flight as the watcher sends them),
and how many per second the P partition durables deliver and take acks for in one process (an empty handler), so
the bus's share of a replica's time can be set beside the API server's. Usage:

    uv run python -m bench.controlplane.bus --events 20000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import nats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the real-server harness the test suites use

from arks_common.bus.bootstrap import declare_all  # noqa: E402
from arks_common.bus.consumer import Delivery, DurableConsumer  # noqa: E402
from arks_common.bus.jetstream import publish  # noqa: E402
from arks_common.bus.pipeline import OrderedPipeline  # noqa: E402
from arks_common.events.contract import OBJECTS, PLANNER_OBJECTS, object_msg_id, object_subject  # noqa: E402
from arks_common.events.partitions import DEFAULT_PARTITIONS  # noqa: E402
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, ObjectRef  # noqa: E402
from arks_common.telemetry.logging import setup_logging  # noqa: E402
from support.nats_server import NatsServer  # noqa: E402


def change(i: int) -> tuple[str, str, ObjectChanged]:
    ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace="bench", name=f"app-{i:06d}", uid=f"uid-{i}")
    body = {"apiVersion": "arks.ai/v1", "kind": "ArksApplication", "metadata": {"name": ref.name}}
    event = ObjectChanged(ref=ref, resource_version=str(i), deleted=False, object=body)
    return object_subject(ref), object_msg_id(ref, str(i), False), event


async def measure(events: int, partitions: int) -> None:
    with tempfile.TemporaryDirectory(prefix="arks-bus-bench-") as tmp:
        server = NatsServer(Path(tmp))
        server.start()
        try:
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await declare_all(js, replicas=1, partitions=partitions)
            pipeline = OrderedPipeline(window=128)
            started = time.perf_counter()
            for i in range(events):
                subject, msg_id, event = change(i)

                async def send(s: str = subject, m: str = msg_id, e: ObjectChanged = event) -> None:
                    await publish(js, OBJECTS, s, m, "bench", e)

                await pipeline.submit(subject, send)
            await pipeline.drain()
            published = time.perf_counter() - started

            done = asyncio.Event()
            handled = 0

            async def handler(envelope: Envelope, delivery: Delivery) -> None:
                nonlocal handled
                handled += 1
                if handled >= events:
                    done.set()

            stop = asyncio.Event()
            started = time.perf_counter()
            consumers = [
                asyncio.create_task(DurableConsumer(js, PLANNER_OBJECTS, handler, partition=p).run(stop))
                for p in range(partitions)
            ]
            await asyncio.wait_for(done.wait(), timeout=600)
            consumed = time.perf_counter() - started
            stop.set()
            await asyncio.gather(*consumers)
            await nc.drain()
        finally:
            server.stop()
    print(f"events: {events}, partitions: {partitions}, one nats-server (JetStream, file storage, R1)")
    print(f"published (acknowledged, 128 in flight): {events / published:,.0f} events/s")
    print(f"consumed by {partitions} partition durables in one process, acked: {events / consumed:,.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    args = parser.parse_args()
    setup_logging("bench", "WARNING", "console")
    asyncio.run(measure(args.events, args.partitions))


if __name__ == "__main__":
    main()
