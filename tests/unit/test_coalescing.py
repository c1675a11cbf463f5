"""Coalescing: one run at a time per key; requests made while a run is under way share one later run."""

from __future__ import annotations

import asyncio

import pytest

from arks_common.coalescing import Coalescer


async def test_requests_during_a_run_share_the_next_run() -> None:
    coalescer = Coalescer()
    runs = 0
    gate = asyncio.Event()

    async def reconcile() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await gate.wait()

    first = asyncio.create_task(coalescer.run("app", reconcile))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(coalescer.run("app", reconcile)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(first, *waiting)
    assert runs == 2  # the first, then one for all ten that came while it ran
    assert results.count(True) == 2
    assert len(coalescer) == 0  # nothing kept once no one waits


async def test_a_request_after_a_run_started_is_never_served_by_that_run() -> None:
    coalescer = Coalescer()
    seen: list[int] = []
    state = 0
    started = asyncio.Event()
    gate = asyncio.Event()

    async def reconcile() -> None:
        seen.append(state)  # what this run read
        started.set()
        await gate.wait()

    first = asyncio.create_task(coalescer.run("app", reconcile))
    await started.wait()
    state = 1  # a change after the first run read the world
    second = asyncio.create_task(coalescer.run("app", reconcile))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, second)
    assert seen == [0, 1]


async def test_keys_run_concurrently_and_a_failure_reaches_only_its_caller() -> None:
    coalescer = Coalescer()
    both = asyncio.Barrier(2)

    async def meet() -> None:
        await asyncio.wait_for(both.wait(), 5)

    await asyncio.gather(coalescer.run("a", meet), coalescer.run("b", meet))

    async def fail() -> None:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        await coalescer.run("a", fail)
    assert len(coalescer) == 0


async def test_requests_waiting_on_a_failed_run_run_themselves() -> None:
    coalescer = Coalescer()
    runs: list[str] = []
    gate = asyncio.Event()

    async def failing() -> None:
        runs.append("failing")
        await gate.wait()
        raise RuntimeError("conflict")

    async def fine() -> None:
        runs.append("fine")

    first = asyncio.create_task(coalescer.run("app", failing))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(coalescer.run("app", fine))
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(RuntimeError):
        await first
    assert await waiting is True
    assert runs == ["failing", "fine"]
