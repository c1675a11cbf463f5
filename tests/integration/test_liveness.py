"""Liveness follows real progress, on a real nats-server: an idle consumer stays alive, a consumer whose handler
never returns fails /healthz naming it, and recovers once the handler does."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from arks_common.bus.consumer import Delivery, DurableConsumer
from arks_common.bus.jetstream import ensure_consumer, ensure_stream, publish
from arks_common.events.contract import (
    OBJECTS,
    STREAMS,
    object_msg_id,
    object_subject,
)
from arks_common.events.contract import (
    PLANNER_OBJECTS as PARTITIONED_PLANNER_OBJECTS,
)
from arks_common.events.partitions import ConsumerInstance
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, ObjectRef
from arks_common.telemetry.http import build_app
from support.http import serving
from support.waiting import eventually

# One durable shared by every partition: these tests are about the consumer loop, not the partitions.
PLANNER_OBJECTS = dataclasses.replace(PARTITIONED_PLANNER_OBJECTS, partitioned=False)

STALL = 0.5


class Stuck:
    """A handler that does not return until released."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, envelope: Envelope, delivery: Delivery) -> None:
        self.entered.set()
        await self.release.wait()


@pytest.fixture
async def js(nats_client: Client) -> JetStreamContext:
    context = nats_client.jetstream()
    for stream in STREAMS:
        await ensure_stream(context, stream)
    await ensure_consumer(context, ConsumerInstance(PLANNER_OBJECTS, None))
    return context


@pytest.fixture
async def healthz() -> AsyncIterator[str]:
    async with serving(build_app(lambda: True), access_log=False) as url:
        yield f"{url}/healthz"


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_a_stuck_handler_fails_liveness_naming_its_consumer_and_recovers(
    js: JetStreamContext, healthz: str
) -> None:
    handler = Stuck()
    stop = asyncio.Event()
    consumer = DurableConsumer(js, PLANNER_OBJECTS, handler, stall_seconds=STALL)
    task = asyncio.create_task(consumer.run(stop))
    try:
        # idle for several stall limits: the fetch cycles are progress
        await asyncio.sleep(4 * (1.0 + STALL))
        assert await _get(healthz) == (200, "ok")

        ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace="ns", name="app", uid="u")
        change = ObjectChanged(ref=ref, resource_version="1", object={"metadata": {"name": "app"}})
        await publish(js, OBJECTS, object_subject(ref), object_msg_id(ref, "1", False), "test", change)
        await asyncio.wait_for(handler.entered.wait(), 10)

        async def stalled() -> bool:
            status, text = await _get(healthz)
            return status == 503 and f"consumer {PLANNER_OBJECTS.durable}: no progress" in text

        await eventually(stalled, within=10, what="/healthz to name the stuck consumer")
        handler.release.set()

        async def alive() -> bool:
            return await _get(healthz) == (200, "ok")

        await eventually(alive, within=10, what="/healthz ok once the handler returned")
    finally:
        handler.release.set()
        stop.set()
        await asyncio.wait_for(task, 10)
    assert await _get(healthz) == (200, "ok")  # a loop that ended is not watched
