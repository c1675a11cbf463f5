"""When a list+watch loop opens its next watch, and when it relists (`arks_common.kube.listwatch`), against a
scripted API server (the real client against a real HTTP server: tests/integration/test_watch_restarts.py)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from arks_common.kube.client import Gone, KubeError
from arks_common.kube.listwatch import MAX_PAUSE_SECONDS, MAX_RETRY_AFTER_SECONDS, Backoff, list_and_watch
from arks_common.kube.resources import APPLICATIONS


def test_the_pause_doubles_within_its_jitter_up_to_its_cap_and_starts_over_after_a_reset() -> None:
    backoff = Backoff(random.Random(7))
    ceilings = [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    pauses = [backoff.pause() for _ in ceilings]
    assert all(c / 2 <= p <= c for p, c in zip(pauses, ceilings, strict=True)), pauses
    assert len(set(pauses)) == len(pauses), "drawn, not fixed: replicas do not retry in step"
    backoff.reset()
    assert 0.25 <= backoff.pause() <= 0.5
    for _ in range(2000):  # a server away for days: the pause stays at its cap
        assert backoff.pause() <= MAX_PAUSE_SECONDS


def test_a_servers_retry_after_is_waited_up_to_its_cap() -> None:
    backoff = Backoff(random.Random(7))
    assert backoff.pause(retry_after=5) == 5
    assert backoff.pause(retry_after=3600) == MAX_RETRY_AFTER_SECONDS
    assert 0.5 <= backoff.pause(retry_after=0) <= 2, "a shorter Retry-After than the backoff's own pause"


class Counted(Backoff):
    """Records how many failures in a row each pause was for; pauses not at all."""

    def __init__(self) -> None:
        super().__init__()
        self.in_a_row: list[int] = []

    def pause(self, retry_after: float | None = None) -> float:
        super().pause(retry_after)
        self.in_a_row.append(self.failures)
        return 0.0


def app(rv: str) -> dict[str, Any]:
    return {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": rv}}


class FakeKube:
    """Lists answer versions l1, l2, ...; each watch plays its script (events, then an error item raised, or a
    clean end); when the scripts run out, the test is over."""

    def __init__(self, watches: list[list[Any]], stop: asyncio.Event) -> None:
        self.watches = watches
        self.lists = 0
        self.watched: list[str] = []
        self.stop = stop

    async def relist(self) -> str:
        self.lists += 1
        return f"l{self.lists}"

    def watch(self, res: Any, rv: str, timeout: int, selector: Any = None) -> AsyncIterator[tuple[str, Any]]:
        self.watched.append(rv)
        script = self.watches.pop(0) if self.watches else None

        async def events() -> AsyncIterator[tuple[str, Any]]:
            if script is None:
                self.stop.set()
                await asyncio.sleep(3600)
            for item in script or []:
                if isinstance(item, BaseException):
                    raise item
                yield item

        return events()


async def run(watches: list[list[Any]]) -> tuple[FakeKube, Counted, list[str]]:
    stop = asyncio.Event()
    kube = FakeKube(watches, stop)
    backoff = Counted()
    restarts: list[str] = []

    async def observe(event: str, obj: dict[str, Any]) -> None:
        pass

    looping = list_and_watch(
        kube,  # type: ignore[arg-type]
        APPLICATIONS,
        kube.relist,
        observe,
        stop,
        loop="test",
        log=structlog.get_logger(),
        watch_timeout=300,
        stall_seconds=300,
        restarted=restarts.append,
        backoff=backoff,
    )
    await asyncio.wait_for(looping, 10)
    return kube, backoff, restarts


async def test_a_watch_ended_at_once_is_watched_again_from_its_version_until_too_many_in_a_row_relist() -> None:
    kube, backoff, restarts = await run([[], [], [], [], [], []])
    assert kube.watched == ["l1"] * 5 + ["l2", "l2"]
    assert restarts == ["short"] * 4 + ["error", "short"]
    assert backoff.in_a_row == [1, 2, 3, 4, 5, 6], "the relist does not reset the pause: only a watch that delivers"


async def test_a_watch_that_delivers_an_event_resets_the_pause() -> None:
    kube, backoff, restarts = await run([[], [], [("MODIFIED", app("5"))], [("BOOKMARK", app("6"))], []])
    assert kube.watched == ["l1", "l1", "l1", "5", "6", "6"]
    assert restarts == ["short", "short", "timeout", "timeout", "short"]
    assert backoff.in_a_row == [1, 2, 1]


@pytest.mark.parametrize(
    "error",
    [KubeError("reset", 0), KubeError("busy", 429, retry_after=1), KubeError("internal error", 500)],
    ids=["a broken stream", "429", "500"],
)
async def test_a_transient_error_watches_again_from_the_last_event_without_a_relist(error: KubeError) -> None:
    kube, backoff, restarts = await run([[("ADDED", app("7")), error], [error]])
    assert kube.watched == ["l1", "7", "7"]
    assert kube.lists == 1
    assert restarts == ["error", "error"]
    assert backoff.in_a_row == [1, 2]


@pytest.mark.parametrize(
    "error", [Gone("expired", 410), KubeError("forbidden", 403), KubeError("not found", 404)], ids=str
)
async def test_an_expired_version_or_a_refusal_relists(error: KubeError) -> None:
    kube, _, restarts = await run([[("ADDED", app("7")), error]])
    assert kube.watched == ["l1", "l2"]
    assert restarts == ["expired" if isinstance(error, Gone) else "error"]
