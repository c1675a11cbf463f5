"""The partition owner against an in-memory Lease store that honours resourceVersion preconditions as the API
server does (a stand-in: what is tested is the owner's order of reads and compare-and-set writes).

Scenario: replica A holds every partition; the API server is away from A for longer than the lease (A's
consumers are cut off at its hold's end, as designed). When it comes back, A and B run a round at about the
same time: A lists (the partition Leases still name A), B lists and, seeing A's membership expired, takes
every partition (compare-and-set on each partition Lease: succeeds, A never rewrote them). A then renews its
membership and -- from its stale list -- "keeps" and restarts its partitions. Both consume the same partitions
until A's next round.

And replicas whose wall clocks are half a minute apart either way: they share the partitions 2 and 2, never
consume one at once, and when one dies (no release) the other takes its partitions within the lease time and one
round of its own, all judged by each replica's own monotonic clock, never by the other's renewTime.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest

from arks_common.sharing import owner as owner_module
from arks_common.sharing.owner import PartitionOwner
from support.leases import FakeKube, SkewedDatetime, Store, wall_clock
from support.waiting import eventually

DURATION = 3.0
P = 4


async def test_a_replica_back_from_an_api_outage_never_consumes_what_another_took() -> None:
    store = Store()
    consuming: dict[int, set[str]] = {p: set() for p in range(P)}
    overlaps: list[tuple[int, set[str]]] = []

    def runner(who: str) -> Callable[[int, asyncio.Event], Awaitable[None]]:
        async def run_partition(partition: int, stop: asyncio.Event) -> None:
            consuming[partition].add(who)
            if len(consuming[partition]) > 1:
                overlaps.append((partition, set(consuming[partition])))
            try:
                await stop.wait()
            finally:
                consuming[partition].discard(who)

        return run_partition

    kube_a, kube_b = FakeKube(store), FakeKube(store)
    a = PartitionOwner(kube_a, "ns", "svc", P, DURATION, runner("A"))  # type: ignore[arg-type]
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    await asyncio.sleep(0.5)
    assert a.owned() == tuple(range(P))

    # the API server is away from A longer than the lease: A's consumers stop at its hold's end
    kube_a.down = True
    await asyncio.sleep(DURATION + 0.5)
    assert a.owned() == ()

    # A comes back; its next membership write waits until B has had its round
    gate = asyncio.Event()
    kube_a.before_member_write = gate
    kube_a.down = False
    b = PartitionOwner(kube_b, "ns", "svc", P, DURATION, runner("B"))  # type: ignore[arg-type]
    # A lists and parks at its membership write
    await eventually(lambda: kube_a.before_member_write is None, DURATION, what="A's list, parked at its write")
    task_b = asyncio.create_task(b.run(stop_b))
    # B takes what A's expired membership held (A is parked between its list and its write) once it has seen that
    # membership unchanged for the lease's duration from its first read, at its start
    await eventually(
        lambda: all(
            store.leases.get(f"arks-svc-partition-{p}", {}).get("spec", {}).get("holderIdentity") == b.me
            for p in range(P)
        ),
        DURATION + DURATION / 3 + 1.0,
        what="B holding every partition",
    )
    gate.set()
    await asyncio.sleep(0.5)
    stop_a.set()
    stop_b.set()
    await asyncio.gather(task_a, task_b)
    holders = {n: v["spec"].get("holderIdentity") for n, v in store.leases.items() if "partition" in n}
    assert not overlaps, f"partitions consumed by two replicas at once: {overlaps}; leases at the end: {holders}"


LEASE = 4.5  # long enough that a hold (4/5 of it) outlasts a round by more than the stop-ahead time
ROUND = LEASE / 3  # how often a replica reads the Leases


class Consumption:
    """Who consumes each partition, and every moment two replicas did at once."""

    def __init__(self) -> None:
        self.consuming: dict[int, set[str]] = {p: set() for p in range(P)}
        self.overlaps: list[tuple[int, set[str]]] = []

    def runner(self, who: str) -> Callable[[int, asyncio.Event], Awaitable[None]]:
        async def run_partition(partition: int, stop: asyncio.Event) -> None:
            self.consuming[partition].add(who)
            if len(self.consuming[partition]) > 1:
                self.overlaps.append((partition, set(self.consuming[partition])))
            try:
                await stop.wait()
            finally:
                self.consuming[partition].discard(who)

        return run_partition

    def check(self) -> None:
        assert not self.overlaps, f"partitions consumed by two replicas at once: {self.overlaps}"


@pytest.mark.parametrize(
    ("skew_a", "skew_b"), [(-30.0, 30.0), (30.0, -30.0)], ids=["A's clock 30 s slow, B's 30 s fast", "the reverse"]
)
async def test_replicas_whose_wall_clocks_differ_by_a_minute_share_disjointly_and_take_over_a_dead_ones_partitions(
    monkeypatch: pytest.MonkeyPatch, skew_a: float, skew_b: float
) -> None:
    monkeypatch.setattr(owner_module, "datetime", SkewedDatetime)  # each replica writes renewTime by its own clock
    store, seen = Store(), Consumption()
    kube_a, kube_b = FakeKube(store), FakeKube(store)
    a = PartitionOwner(kube_a, "ns", "svc", P, LEASE, seen.runner("A"))  # type: ignore[arg-type]
    b = PartitionOwner(kube_b, "ns", "svc", P, LEASE, seen.runner("B"))  # type: ignore[arg-type]
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a), context=wall_clock(skew_a))
    task_b: asyncio.Task[None] | None = None
    try:
        await eventually(lambda: a.owned() == tuple(range(P)), LEASE, what="A holding every partition")
        task_b = asyncio.create_task(b.run(stop_b), context=wall_clock(skew_b))

        def shared() -> bool:
            seen.check()
            return len(a.owned()) == len(b.owned()) == P // 2

        await eventually(shared, 4 * LEASE, what="the partitions shared 2 and 2")
        holders = partition_holders(store)
        for _ in range(int(LEASE / 0.05)):  # a lease time of rounds: nobody takes what the other holds
            await asyncio.sleep(0.05)
            seen.check()
            assert partition_holders(store) == holders

        # A dies as a kill -9 would leave it: nothing more reaches the API server, nothing is released
        kube_a.down = True
        killed = time.monotonic()
        task_a.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task_a
        assert store.leases["arks-svc-partition-0"]["spec"]["holderIdentity"] in (a.me, b.me)
        await eventually(
            lambda: b.owned() == tuple(range(P)),
            LEASE + ROUND + 2.0,
            what="B holding every partition after A died",
        )
        took = time.monotonic() - killed
        assert took <= LEASE + ROUND + 0.5, f"take-over took {took:.2f}s"
        seen.check()
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(task_a, *([task_b] if task_b else []), return_exceptions=True)


def partition_holders(store: Store) -> dict[str, str | None]:
    return {n: v["spec"].get("holderIdentity") for n, v in store.leases.items() if "-partition-" in n}


async def test_a_renewal_answered_after_another_replica_may_have_seen_it_run_out_keeps_nothing() -> None:
    """A's membership write is sent while its hold lasts but lands only after B, having read that membership
    unchanged for the whole lease, took A's partitions. The write succeeds (nobody else writes A's slot), yet
    A must not go on consuming the partitions it read as its own before it: it takes them again by
    compare-and-set, which B's take makes a Conflict."""
    store, seen = Store(), Consumption()
    kube_a, kube_b = FakeKube(store), FakeKube(store)
    a = PartitionOwner(kube_a, "ns", "svc", P, LEASE, seen.runner("A"))  # type: ignore[arg-type]
    b = PartitionOwner(kube_b, "ns", "svc", P, LEASE, seen.runner("B"))  # type: ignore[arg-type]
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    task_b: asyncio.Task[None] | None = None
    try:
        await eventually(lambda: a.owned() == tuple(range(P)), LEASE, what="A holding every partition")
        # B takes nothing while A renews; A's share stays whole (B counts, so A gives 2 back: wait that out)
        task_b = asyncio.create_task(b.run(stop_b))
        await eventually(lambda: len(a.owned()) == len(b.owned()) == P // 2, 4 * LEASE, what="2 and 2")
        mine = a.owned()
        gate = asyncio.Event()
        kube_a.before_member_write = gate  # A's next renewal is sent, and held before it lands
        await eventually(lambda: kube_a.before_member_write is None, LEASE, what="A's renewal in flight")

        def b_took_a_share() -> bool:
            seen.check()
            return set(mine) <= set(b.owned())

        await eventually(b_took_a_share, 2 * LEASE, what="B taking A's partitions")
        gate.set()  # A's renewal lands now, long after A's hold ran out
        for _ in range(int(LEASE / 0.05)):  # A is live again: they share again, never consuming one at once
            await asyncio.sleep(0.05)
            seen.check()
        await eventually(lambda: sorted(a.owned() + b.owned()) == list(range(P)), LEASE, what="each held once")
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(task_a, *([task_b] if task_b else []), return_exceptions=True)
