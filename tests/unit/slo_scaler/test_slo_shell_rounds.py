"""The slo-scaler's rounds: every application is decided at once, so one application's hung leaders hold no other
back; a round ends when the next is due; a replica that loses the lease mid-round writes nothing more; the leader
lists the applications when it takes the lead and again while it leads (their events may reach a follower only).

The loop runs on real time: every test waits for what it expects with a deadline (`eventually`), and its hung
leaders hang until the test lets them go, never for a guessed number of seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase
from unit.slo_scaler.shell import Cluster, Runtime, Shell, application, shell, track

from arks_common.kube.resources import Resource
from arks_slo_scaler.adapters.metrics_source import FetchError
from support.waiting import eventually


class Hang:
    """Leaders that take the connection and never answer, until `release` (then they time out)."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.waiting = 0  # answers in flight

    def answer(self) -> Callable[[], Awaitable[str]]:
        async def hung() -> str:
            self.waiting += 1
            try:
                await self.released.wait()
            finally:
                self.waiting -= 1
            raise FetchError("timed out")

        return hung

    def release(self) -> None:
        self.released.set()


@asynccontextmanager
async def running(*shells: Shell) -> AsyncIterator[None]:
    """The scale loops of `shells` run inside the block and are stopped (their rounds finished) when it ends."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.scaler.run(stop)) for s in shells]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10.0)


def _fetches(s: Shell, pod: str) -> int:
    return sum(1 for name, _ in s.source.fetched if name == pod)


def _written(s: Shell) -> set[str]:
    return {name for name, _ in s.cluster.status_writes}


async def test_hung_leaders_of_one_application_hold_no_other_back() -> None:
    # one after another, each of "stuck"'s six leaders cost a scrape timeout before "other" was looked at: 30 s with
    # the default 5 s timeout, minutes with a few such applications
    s = shell(interval=3600.0)
    s.cluster.add(application("stuck", uid="u-stuck"), groups=6)
    s.cluster.add(application("other", uid="u-other"), groups=1)
    hang = Hang()
    s.source.answers = {f"stuck-{i}": hang.answer() for i in range(6)}
    async with running(s):
        # decided while all six of stuck's leaders hang: its groups are scraped at once, and other is not behind them
        await eventually(lambda: hang.waiting == 6 and "other" in _written(s), within=10.0, what="other decided")
        hang.release()
        await eventually(lambda: "stuck" in _written(s), within=10.0, what="stuck decided once its scrapes fail")


async def test_a_step_that_outlasts_its_round_is_given_up_when_the_next_is_due() -> None:
    s = shell(interval=0.2)
    s.cluster.add(application("stuck", uid="u-stuck"), groups=1)
    s.cluster.add(application("other", uid="u-other"), groups=1)
    s.source.answers = {"stuck-0": Hang().answer()}  # no timeout at all
    async with running(s):
        await eventually(
            lambda: _fetches(s, "other-0") >= 3 and _fetches(s, "stuck-0") >= 3,  # stuck tried again each round
            within=10.0,
            what="three rounds",
        )


async def test_a_replica_that_loses_the_lease_mid_round_writes_nothing_more() -> None:
    # the lease was read once per round: a step that waited on a slow scrape wrote its decision after another
    # replica had taken the lease and decided the same application
    leading = {"now": True}
    s = shell(interval=3600.0, is_leader=lambda: leading["now"])
    s.cluster.add(application("slow", uid="u-slow"), groups=1)
    s.cluster.add(application("quick", uid="u-quick"), groups=1)
    answered = asyncio.Event()

    async def slow() -> str:
        await answered.wait()
        return Runtime().text()

    s.source.answers = {"slow-0": slow}
    async with running(s):
        await eventually(lambda: _fetches(s, "slow-0") == 1 and "quick" in _written(s), within=10.0, what="quick")
        leading["now"] = False  # the lease expired while slow's leader took its time, and another replica took it
        answered.set()
    assert [name for name, _ in s.cluster.status_writes] == ["quick"]  # decided while this replica led
    assert s.bus.subjects("arks.scale.") == []
    assert [reason for _, reason, _ in s.events.recorded] == ["ScaleHold"]  # quick's


def _replicas(leading: dict[str, bool], **options: Any) -> tuple[Shell, Shell, dict[str, int]]:
    """Two replicas of the scaler over one cluster, leading as `leading` says at each moment, and how often each
    asked (once per round, more while it leads)."""
    asked = {"a": 0, "b": 0}

    def leader(replica: str) -> Callable[[], bool]:
        def is_leader() -> bool:
            asked[replica] += 1
            return leading[replica]

        return is_leader

    a = shell(interval=0.05, is_leader=leader("a"), **options)
    b = shell(interval=0.05, is_leader=leader("b"), cluster=a.cluster, source=a.source, **options)
    return a, b, asked


async def test_a_replica_taking_the_lead_lists_the_applications() -> None:
    # the list ran once, when the scaler started: an application whose event reached the old leader just before
    # it lost the lease was never decided by the new one
    leading = {"a": True, "b": False}
    a, b, asked = _replicas(leading)
    async with running(a, b):
        # both past their first round (a listed, b followed): nothing to decide yet
        await eventually(lambda: min(asked.values()) >= 2, within=10.0, what="a round of each")
        a.cluster.add(application(), groups=2)
        track(a)  # the shared durable gave the event to a ...
        leading.update(a=False, b=True)  # ... which loses the lease before its next round
        await eventually(lambda: bool(b.events.recorded), within=10.0, what="the new leader's decision")
    assert a.cluster.status_writes
    assert not a.events.recorded


async def test_the_leader_lists_the_applications_again_while_it_leads() -> None:
    # docs/architecture.md promised that no decision depends on which replica received an event; an application
    # whose events all went to the follower was never decided
    leading = {"a": True, "b": False}
    a, b, asked = _replicas(leading, relist_seconds=0.2)
    async with running(a, b):
        await eventually(lambda: min(asked.values()) >= 2, within=10.0, what="a round of each")
        a.cluster.add(application(), groups=2)
        track(b)  # only the follower heard of it
        await eventually(lambda: bool(a.events.recorded), within=10.0, what="the leader's decision")
    assert not b.events.recorded


async def test_a_scale_loop_cancelled_mid_round_leaves_no_step_running() -> None:
    # the runner cancels the loop at shutdown; the round's steps were tasks of their own and ran on behind it
    s = shell(interval=3600.0)
    s.cluster.add(application("stuck", uid="u-stuck"), groups=1)
    hang = Hang()
    s.source.answers = {"stuck-0": hang.answer()}
    task = asyncio.create_task(s.scaler.run(asyncio.Event()))
    await eventually(lambda: hang.waiting == 1, within=10.0, what="the step waiting on its scrape")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("scale ")] == []


async def test_the_hung_leaders_of_one_application_never_take_every_scrape_slot() -> None:
    # its eight scrapes queued first for the round's two slots (64 by default): the other application's scrape
    # waited behind them, was given up at every deadline with its step, and the next round queued them the same way
    s = shell(interval=0.2, concurrent_scrapes=2)
    s.cluster.add(application("big", uid="u-big"), groups=8)
    s.cluster.add(application("small", uid="u-small"), groups=1)
    s.source.answers = {f"big-{i}": Hang().answer() for i in range(8)}
    async with running(s):
        await eventually(lambda: "small" in _written(s), within=5.0, what="small decided beside big's hung leaders")


async def test_an_application_given_up_at_the_deadline_starts_first_in_the_next_round() -> None:
    # every round started the steps in the same order behind one step slot: c waited behind a and b, which hang,
    # and was given up at every deadline without ever being looked at
    s = shell(interval=0.2, concurrent_steps=1)
    for name in ("a", "b", "c"):
        s.cluster.add(application(name, uid=f"u-{name}"), groups=1)
    s.source.answers = {"a-0": Hang().answer(), "b-0": Hang().answer()}
    async with running(s):
        await eventually(lambda: "c" in _written(s), within=5.0, what="c decided in the third round at the latest")


class SlowListing(Cluster):
    """An API server whose list of the applications takes `seconds` (thousands of them, a busy server)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def list_pages(self, res: Resource) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
        await asyncio.sleep(self.seconds)
        async for page in super().list_pages(res):
            yield page


async def test_a_round_after_a_slow_list_still_decides() -> None:
    # the round's deadline was counted from before the list: a new leader listing thousands of applications (4.5 s
    # for 2,000 with a 3 s interval) gave every step of that round up at once, and every round after a relist too
    s = shell(interval=0.3, cluster=SlowListing(seconds=0.5), relist_seconds=0.0)  # a list before every round
    s.cluster.add(application(), groups=1)
    async with running(s):
        await eventually(lambda: "chat" in _written(s), within=5.0, what="chat decided in a round after a list")


def test_events_of_applications_without_autoscaling_cost_the_loop_next_to_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # each event (and each listed application) of one without autoscaling tried to remove every series it could
    # have had: 3 roles x (3 gauges + 48 decision counters), ~2 ms; 5,000 of them held the event loop ~10 s. Counted,
    # not timed: a series removal is what cost the time
    removals: list[tuple[str, ...]] = []
    original = MetricWrapperBase.remove

    def counted(self: MetricWrapperBase, *labels: str) -> None:
        removals.append(labels)
        original(self, *labels)

    monkeypatch.setattr(MetricWrapperBase, "remove", counted)
    s = shell()
    plain = application()
    del plain["spec"]["autoscaling"]
    for i in range(5000):
        s.scaler.application_changed("ns", f"plain-{i}", plain, deleted=False)
    assert removals == []
    assert not s.scaler._apps


async def test_an_application_with_more_hung_leaders_than_its_slots_is_decided_from_the_others() -> None:
    # its step waited on the scrapes of the leaders listed first, which hang, and was given up at every deadline: no
    # decision ever, only a log line, and the two leaders that answer were never asked
    s = shell(interval=0.3, concurrent_scrapes=4)  # two slots for one application
    s.cluster.add(application("big", uid="u-big"), groups=6)
    hang = Hang()
    s.source.answers = {f"big-{i}": hang.answer() for i in range(4)}
    async with running(s):
        await eventually(lambda: "big" in _written(s), within=5.0, what="big decided from the leaders that answer")
    decision = s.cluster.autoscaling("big")["lastDecision"]
    assert decision["message"] == "only one scrape so far from 2 group(s), need two for rates: hold at 6"
    assert {name for name, _ in s.source.fetched} == {f"big-{i}" for i in range(6)}  # every leader asked in turn
