"""The bus is declared once by `arks-bus-bootstrap`; a service waits, not ready and not crashing, until the
streams and its consumers are exactly as its version declares them, and stops at once when told to."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client
from nats.js.api import StreamConfig

from arks_common.bus.bootstrap import declare_all, differences, wait_until_declared
from arks_common.events.contract import CONSUMERS, OBJECTS_STREAM, Service, consumers_of

PLANNER = tuple(consumers_of(Service.PLANNER))


async def test_a_service_waits_until_the_bootstrap_declared_the_bus(nats_client: Client) -> None:
    js = nats_client.jetstream()
    assert await differences(js, PLANNER), "nothing is declared yet"
    stop = asyncio.Event()
    waiting = asyncio.create_task(wait_until_declared(js, PLANNER, stop))
    await asyncio.sleep(0.5)
    assert not waiting.done(), "the service went on with an undeclared bus"
    await declare_all(js, replicas=1)
    assert await asyncio.wait_for(waiting, timeout=15) is True
    assert await differences(js, CONSUMERS) == []


async def test_a_changed_stream_is_named_and_waited_for_and_the_bootstrap_restores_it(nats_client: Client) -> None:
    js = nats_client.jetstream()
    await declare_all(js, replicas=1)
    info = await js.stream_info(OBJECTS_STREAM.name)
    changed = StreamConfig.from_response(info.config.as_dict())
    changed.max_msgs_per_subject = 1_000
    await js.update_stream(changed)
    problems = await differences(js, PLANNER)
    assert problems == [
        f"stream {OBJECTS_STREAM.name}: max_msgs_per_subject is 1000, "
        f"this version needs {OBJECTS_STREAM.max_msgs_per_subject!r}"
    ]
    await declare_all(js, replicas=1)  # idempotent, and it brings the stream back
    assert await differences(js, CONSUMERS) == []


async def test_a_waiting_service_stops_at_once_when_told(nats_client: Client) -> None:
    stop = asyncio.Event()
    waiting = asyncio.create_task(wait_until_declared(nats_client.jetstream(), PLANNER, stop))
    await asyncio.sleep(0.3)
    stop.set()
    assert await asyncio.wait_for(waiting, timeout=2) is False
