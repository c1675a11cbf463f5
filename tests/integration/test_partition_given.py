"""What a replica does outside its consumers on a partition ends with the partition (`on_partition_given`): the
listeners run once the partition's consumers stopped (their messages in hand finished), and also when the hold ran
out and the consumers were cut off; the Lease is released only after (`PartitionOwner` awaits `run_partition`)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from arks_common.bus.consumer import Delivery
from arks_common.bus.jetstream import ensure_consumer, ensure_stream, publish
from arks_common.events.contract import OBJECTS, OBJECTS_STREAM, PLANNER_OBJECTS, object_msg_id, object_subject
from arks_common.events.partitions import ConsumerInstance, partition_of
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, ObjectRef
from arks_common.runner import ServiceContext
from arks_common.settings import CommonSettings
from support.waiting import eventually

P = 8
NAME = next(f"app-{i}" for i in range(100) if partition_of("ns", f"app-{i}", P) == 3)


@pytest.fixture
async def ctx(nats_client: Client) -> ServiceContext:
    js: JetStreamContext = nats_client.jetstream()
    await ensure_stream(js, OBJECTS_STREAM, partitions=P)
    await ensure_consumer(js, ConsumerInstance(PLANNER_OBJECTS, 3))
    return ServiceContext(CommonSettings(bus_partitions=P), nats_client, js, asyncio.Event())


class Slow:
    """A handler that holds its message until released."""

    def __init__(self) -> None:
        self.began = asyncio.Event()
        self.release = asyncio.Event()
        self.done = False

    async def __call__(self, envelope: Envelope, delivery: Delivery) -> None:
        self.began.set()
        await self.release.wait()
        self.done = True


async def _publish(js: JetStreamContext) -> None:
    ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace="ns", name=NAME, uid="u1")
    change = ObjectChanged(ref=ref, resource_version="1", object={"metadata": {"name": NAME}})
    await publish(js, OBJECTS, object_subject(ref), object_msg_id(ref, "1", deleted=False), "test", change)


async def test_the_given_listeners_run_once_the_consumers_stopped_and_their_message_in_hand_finished(
    ctx: ServiceContext,
) -> None:
    handler = Slow()
    ctx.consume(PLANNER_OBJECTS, handler)
    told: list[tuple[int, bool]] = []

    async def given(partition: int) -> None:
        told.append((partition, handler.done))

    ctx.on_partition_given(given)
    stop = asyncio.Event()
    running = asyncio.create_task(ctx.run_partition(3, stop))
    await _publish(ctx.js)
    await asyncio.wait_for(handler.began.wait(), 10)
    stop.set()  # given back: the message in hand finishes first
    assert not told
    handler.release.set()
    await asyncio.wait_for(running, 10)
    assert told == [(3, True)]


async def test_the_given_listeners_run_when_the_hold_ran_out_and_the_consumers_were_cut_off(
    ctx: ServiceContext,
) -> None:
    handler = Slow()
    ctx.consume(PLANNER_OBJECTS, handler)
    told: list[int] = []

    async def given(partition: int) -> None:
        await asyncio.sleep(0)  # awaited even in a task being cancelled
        told.append(partition)

    ctx.on_partition_given(given)
    running = asyncio.create_task(ctx.run_partition(3, asyncio.Event()))
    await _publish(ctx.js)
    await asyncio.wait_for(handler.began.wait(), 10)
    running.cancel()  # the hold ran out (`PartitionOwner._guarded`)
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await eventually(lambda: told == [3], within=5, what="the listener told")
    assert not handler.done
