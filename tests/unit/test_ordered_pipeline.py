"""The publish pipeline: many sends in flight, one key's sends in the order submitted, failures surfaced."""

from __future__ import annotations

import asyncio
import random

import pytest

from arks_common.bus.pipeline import OrderedPipeline


async def test_each_key_keeps_its_order_while_keys_overlap() -> None:
    pipeline = OrderedPipeline(window=16)
    done: list[tuple[str, int]] = []
    in_flight = 0
    most = 0
    rng = random.Random(7)

    def send(key: str, n: int) -> object:
        async def go() -> None:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(rng.random() / 200)
            in_flight -= 1
            done.append((key, n))

        return go

    for n in range(40):
        for key in ("a", "b", "c", "d"):
            await pipeline.submit(key, send(key, n))  # type: ignore[arg-type]
    await pipeline.drain()
    for key in ("a", "b", "c", "d"):
        assert [n for k, n in done if k == key] == list(range(40))
    assert 1 < most <= 16  # several at once, never more than the window


async def test_a_failed_send_is_raised_to_the_submitter() -> None:
    pipeline = OrderedPipeline(window=4)

    async def fail() -> None:
        raise RuntimeError("bus gone")

    await pipeline.submit("a", fail)
    with pytest.raises(RuntimeError, match="bus gone"):
        await pipeline.drain()


async def test_room_waits_for_a_free_slot_and_counts_the_free_ones() -> None:
    pipeline = OrderedPipeline(window=3)
    assert await pipeline.room() == 3
    release = asyncio.Event()

    async def held() -> None:
        await release.wait()

    for key in ("a", "b", "c"):
        await pipeline.submit(key, held)
    waiting = asyncio.create_task(pipeline.room())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # every slot is held
    release.set()
    assert await asyncio.wait_for(waiting, 5) >= 1
    await pipeline.drain()
    assert await pipeline.room() == 3
