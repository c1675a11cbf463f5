"""Beyond one NATS server: the streams declared with three replicas on a real three-node JetStream cluster; one
node killed with SIGKILL in the middle of a burst and restarted; every acknowledged event is handled, and stored
once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.js.errors import ServiceUnavailableError

from arks_common.bus.consumer import Delivery, DurableConsumer
from arks_common.bus.jetstream import ensure_consumer, ensure_stream, publish
from arks_common.events.contract import (
    OBJECTS,
    OBJECTS_STREAM,
    object_msg_id,
    object_subject,
)
from arks_common.events.contract import (
    PLANNER_OBJECTS as PARTITIONED_PLANNER_OBJECTS,
)
from arks_common.events.partitions import ConsumerInstance
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, ObjectRef
from support.nats_server import NatsCluster
from support.waiting import eventually

# One durable shared by every partition: these tests are about the consumer loop, not the partitions.
PLANNER_OBJECTS = dataclasses.replace(PARTITIONED_PLANNER_OBJECTS, partitioned=False)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "nats-cluster")
    nodes.start()
    yield nodes
    nodes.stop()


async def _until_done(attempt: Callable[[], Awaitable[object]], what: str, within: float = 60) -> None:
    """Retries a JetStream call while the cluster elects leaders (no meta leader yet, no stream leader)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            await attempt()
            return
        except (nats.errors.Error, TimeoutError, ServiceUnavailableError):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{what} did not succeed within {within}s") from None
            await asyncio.sleep(0.2)


async def test_a_node_killed_mid_burst_loses_and_doubles_nothing(cluster: NatsCluster) -> None:
    total = 300
    client = await nats.connect(cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = client.jetstream(timeout=2)
    await _until_done(lambda: ensure_stream(js, OBJECTS_STREAM, replicas=3), "declaring the R3 stream")
    await _until_done(lambda: ensure_consumer(js, ConsumerInstance(PLANNER_OBJECTS, None)), "declaring the consumer")
    info = await js.stream_info(OBJECTS_STREAM.name)
    assert info.config.num_replicas == 3
    assert info.cluster is not None
    assert len(info.cluster.replicas or []) == 2  # a leader and two followers
    deliveries: Counter[str] = Counter()

    async def handler(envelope: Envelope, delivery: Delivery) -> None:
        deliveries[envelope.id] += 1

    stop = asyncio.Event()
    task = asyncio.create_task(DurableConsumer(js, PLANNER_OBJECTS, handler, retry_base_seconds=0.05).run(stop))
    leader = next(n for n in cluster.nodes if n.workdir.name == info.cluster.leader)
    sent: list[str] = []
    for i in range(total):
        if i == total // 3:
            leader.kill9()  # the stream's leader: the other two elect a new one and carry on
        if i == 2 * total // 3:
            leader.start()  # back on its store; it catches up as a follower
        ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace="ns", name=f"app-{i}", uid=f"u-{i}")
        change = ObjectChanged(ref=ref, resource_version="1", object={"metadata": {"name": ref.name}})
        msg_id = object_msg_id(ref, "1", False)
        await _until_done(partial(publish, js, OBJECTS, object_subject(ref), msg_id, "test", change), "a publish")
        sent.append(msg_id)
    await eventually(lambda: set(deliveries) == set(sent), within=90, what="every event handled")
    stored = (await js.stream_info(OBJECTS_STREAM.name)).state.messages
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    await client.close()
    # the publisher's retries across the election carried the same Nats-Msg-Id: each event stored once
    assert stored == total, f"{stored} messages stored for {total} events"
