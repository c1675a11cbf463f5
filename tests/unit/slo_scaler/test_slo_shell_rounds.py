"""The slo-scaler's rounds: every application is decided at once, so one application's hung leaders hold no other
back; a round ends when the next is due; a replica that loses the lease mid-round writes nothing more; the leader
lists the applications when it takes the lead and again while it leads (their events may reach a follower only)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from unit.slo_scaler.shell import Runtime, Shell, application, shell, track

from arks_slo_scaler.adapters.metrics_source import FetchError

SCRAPE_TIMEOUT = 0.5


def _hung(seconds: float) -> Callable[[], Awaitable[str]]:
    async def answer() -> str:
        await asyncio.sleep(seconds)  # a leader that takes the connection and never answers, until the timeout
        raise FetchError("timed out")

    return answer


async def _rounds(s: Shell, until: float) -> float:
    """Runs the scale loop for `until` seconds; returns the loop's time it started at."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    started = loop.time()
    task = asyncio.create_task(s.scaler.run(stop))
    await asyncio.sleep(until)
    stop.set()
    await asyncio.wait_for(task, timeout=5.0)
    return started


def _first_fetch(s: Shell, pod: str) -> float:
    return min(at for name, at in s.source.fetched if name == pod)


async def test_hung_leaders_of_one_application_hold_no_other_back() -> None:
    # one after another, each of "stuck"'s six leaders cost a scrape timeout before "other" was looked at: 3 s here,
    # 30 s with the default 5 s timeout, minutes with a few such applications
    s = shell(interval=10.0)
    s.cluster.add(application("stuck", uid="u-stuck"), groups=6)
    s.cluster.add(application("other", uid="u-other"), groups=1)
    s.source.answers = {f"stuck-{i}": _hung(SCRAPE_TIMEOUT) for i in range(6)}
    started = await _rounds(s, until=1.0)
    assert _first_fetch(s, "other-0") - started < SCRAPE_TIMEOUT / 2
    assert max(_first_fetch(s, f"stuck-{i}") for i in range(6)) - started < SCRAPE_TIMEOUT / 2  # its groups at once
    assert {name for name, _ in s.cluster.status_writes} == {"stuck", "other"}


async def test_a_step_that_outlasts_its_round_is_given_up_when_the_next_is_due() -> None:
    s = shell(interval=0.3)
    s.cluster.add(application("stuck", uid="u-stuck"), groups=1)
    s.cluster.add(application("other", uid="u-other"), groups=1)
    s.source.answers = {"stuck-0": _hung(3600.0)}  # no timeout at all
    await _rounds(s, until=1.0)
    assert len([name for name, _ in s.source.fetched if name == "other-0"]) >= 3  # a round every 0.3 s
    assert len([name for name, _ in s.source.fetched if name == "stuck-0"]) >= 3  # tried again each round


async def test_a_replica_that_loses_the_lease_mid_round_writes_nothing_more() -> None:
    # the lease was read once per round: a step that waited on a slow scrape wrote its decision after another
    # replica had taken the lease and decided the same application
    leading = {"now": True}
    s = shell(interval=10.0, is_leader=lambda: leading["now"])
    s.cluster.add(application("slow", uid="u-slow"), groups=1)
    s.cluster.add(application("quick", uid="u-quick"), groups=1)

    async def slow_then_deposed() -> str:
        await asyncio.sleep(0.2)
        leading["now"] = False  # the lease expired meanwhile, and another replica took it
        return Runtime().text()

    s.source.answers = {"slow-0": slow_then_deposed}
    await _rounds(s, until=0.5)
    assert [name for name, _ in s.cluster.status_writes] == ["quick"]  # decided while this replica led
    assert s.bus.subjects("arks.scale.") == []
    assert [reason for _, reason, _ in s.events.recorded] == ["ScaleHold"]  # quick's


async def _replicas(leading: dict[str, bool], **options: Any) -> tuple[Shell, Shell]:
    """Two replicas of the scaler over one cluster, leading as `leading` says at each moment."""
    a = shell(interval=0.05, is_leader=lambda: leading["a"], **options)
    b = shell(interval=0.05, is_leader=lambda: leading["b"], cluster=a.cluster, source=a.source, **options)
    return a, b


async def _both(a: Shell, b: Shell, meanwhile: Callable[[], None]) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.scaler.run(stop)) for s in (a, b)]
    await asyncio.sleep(0.2)  # both up, both past their first rounds: nothing to decide yet
    meanwhile()
    await asyncio.sleep(0.6)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5.0)


async def test_a_replica_taking_the_lead_lists_the_applications() -> None:
    # the list ran once, when the scaler started: an application whose event reached the old leader just before
    # it lost the lease was never decided by the new one
    leading = {"a": True, "b": False}
    a, b = await _replicas(leading)

    def created_then_handed_over() -> None:
        a.cluster.add(application(), groups=2)
        track(a)  # the shared durable gave the event to a ...
        leading.update(a=False, b=True)  # ... which loses the lease before its next round

    await _both(a, b, created_then_handed_over)
    assert a.cluster.status_writes
    assert b.events.recorded
    assert not a.events.recorded


async def test_the_leader_lists_the_applications_again_while_it_leads() -> None:
    # docs/architecture.md promised that no decision depends on which replica received an event; an application
    # whose events all went to the follower was never decided
    leading = {"a": True, "b": False}
    a, b = await _replicas(leading, relist_seconds=0.2)

    def created_seen_by_the_follower() -> None:
        a.cluster.add(application(), groups=2)
        track(b)

    await _both(a, b, created_seen_by_the_follower)
    assert a.events.recorded
    assert not b.events.recorded


async def test_a_scale_loop_cancelled_mid_round_leaves_no_step_running() -> None:
    # the runner cancels the loop at shutdown; the round's steps were tasks of their own and ran on behind it
    s = shell(interval=10.0)
    s.cluster.add(application("stuck", uid="u-stuck"), groups=1)
    s.source.answers = {"stuck-0": _hung(3600.0)}
    task = asyncio.create_task(s.scaler.run(asyncio.Event()))
    await asyncio.sleep(0.2)  # the step waits on its scrape
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("scale ")] == []
