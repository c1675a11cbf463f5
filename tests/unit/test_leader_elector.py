"""The leader elector's shell against an in-memory Lease store (compare-and-set on resourceVersion, as the API
server does), with replicas whose wall clocks are half a minute apart either way: never two leaders, and when
the leader dies (no release) the other leads within the lease time and one round of its own clock. Each judges
the Lease by its own monotonic clock, never by the other's renewTime."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from arks_common.kube import leader as leader_module
from arks_common.kube.leader import LeaderElector
from support.leases import FakeKube, SkewedDatetime, Store, wall_clock
from support.waiting import eventually

LEASE = 3.0
RETRY = 0.5


@pytest.mark.parametrize(
    ("skew_a", "skew_b"), [(-30.0, 30.0), (30.0, -30.0)], ids=["A's clock 30 s slow, B's 30 s fast", "the reverse"]
)
async def test_electors_whose_wall_clocks_differ_by_a_minute_never_both_lead_and_one_takes_over_a_dead_leader(
    monkeypatch: pytest.MonkeyPatch, skew_a: float, skew_b: float
) -> None:
    monkeypatch.setattr(leader_module, "datetime", SkewedDatetime)  # each writes renewTime by its own clock
    store = Store()
    kube_a, kube_b = FakeKube(store), FakeKube(store)
    a = LeaderElector(kube_a, "ns", "lease", duration=LEASE, retry=RETRY)  # type: ignore[arg-type]
    b = LeaderElector(kube_b, "ns", "lease", duration=LEASE, retry=RETRY)  # type: ignore[arg-type]
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a), context=wall_clock(skew_a))
    task_b: asyncio.Task[None] | None = None
    try:
        await eventually(a.is_leader, LEASE, what="A leading")
        task_b = asyncio.create_task(b.run(stop_b), context=wall_clock(skew_b))
        for _ in range(int(2 * LEASE / 0.02)):  # two lease times of B's rounds: A stays the only leader
            await asyncio.sleep(0.02)
            assert not b.is_leader(), "two leaders at once"
            assert a.is_leader()

        # A dies as a kill -9 would leave it: nothing more reaches the API server, the Lease is not released
        kube_a.down = True
        killed = time.monotonic()
        task_a.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task_a
        assert store.leases["lease"]["spec"]["holderIdentity"] == a.me
        await eventually(b.is_leader, LEASE + RETRY + 2.0, what="B leading after A died")
        took = time.monotonic() - killed
        assert took <= LEASE + RETRY + 0.5, f"take-over took {took:.2f}s"
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(task_a, *([task_b] if task_b else []), return_exceptions=True)


async def test_a_leader_stopping_cleanly_releases_the_lease_and_the_other_leads_at_once() -> None:
    """The released Lease (no holder) is taken on the next round, not after the other waited a lease time."""
    store = Store()
    a = LeaderElector(FakeKube(store), "ns", "lease", duration=LEASE, retry=RETRY)  # type: ignore[arg-type]
    b = LeaderElector(FakeKube(store), "ns", "lease", duration=LEASE, retry=RETRY)  # type: ignore[arg-type]
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    task_b: asyncio.Task[None] | None = None
    try:
        await eventually(a.is_leader, LEASE, what="A leading")
        task_b = asyncio.create_task(b.run(stop_b))
        await asyncio.sleep(2 * RETRY)  # B has read the Lease held by A at least once
        stop_a.set()
        await task_a
        # released (B may take it before this line runs: the behaviour under test)
        assert store.leases["lease"]["spec"]["holderIdentity"] != a.me
        stopped = time.monotonic()
        await eventually(b.is_leader, LEASE, what="B leading after A released")
        assert time.monotonic() - stopped <= RETRY + 0.5
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(task_a, *([task_b] if task_b else []), return_exceptions=True)
