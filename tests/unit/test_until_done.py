"""`until_done`: a start-up step tried again until it is done, each pause cut short by a shutdown."""

from __future__ import annotations

import asyncio
import time

from arks_common.stopping import until_done


async def test_an_attempt_not_done_is_tried_again_after_a_growing_pause() -> None:
    outcomes = [False, False, True]
    tried: list[float] = []

    async def attempt() -> bool:
        tried.append(time.monotonic())
        return outcomes[len(tried) - 1]

    assert await until_done(asyncio.Event(), attempt, 0.05, 1.0) is True
    assert len(tried) == 3
    first, second = tried[1] - tried[0], tried[2] - tried[1]
    # the pause doubles (a little under each: the event loop's timers may fire a clock tick early)
    assert first >= 0.045
    assert second >= 0.09


async def test_a_shutdown_ends_the_pause_and_the_tries() -> None:
    stop = asyncio.Event()
    tried = 0

    async def attempt() -> bool:
        nonlocal tried
        tried += 1
        asyncio.get_running_loop().call_later(0.05, stop.set)
        return False

    assert await asyncio.wait_for(until_done(stop, attempt, 60.0, 60.0), timeout=5.0) is False
    assert tried == 1
