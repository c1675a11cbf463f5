"""The deployer's reconciles on news no bus message carries (an owned object no event tells of deleted, pods
starting or ending to terminate): one reconcile for an application's news that come together, a bounded number at
once, none after shutdown began, only by the replica holding the application's partition (or the one that takes it
over soon after), also when the partition is given away while the news waits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from arks_common.bus.consumer import Later, TemporaryError
from arks_common.events.partitions import partition_of
from arks_deployer.off_bus import AT_ONCE, TRIES, OffBus
from arks_deployer.reconcile import Reconciler
from support.waiting import eventually


class Reconciles:
    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def reconcile(self, namespace: str, name: str, **_: Any) -> None:
        self.started.append((namespace, name))
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1

    def looking(self, namespace: str, name: str) -> bool:
        return False


async def test_a_namespaces_deletions_are_restored_a_few_at_a_time_once_per_application() -> None:
    reconciles = Reconciles()
    restorer = OffBus(8, lambda: range(8), 30.0)
    restorer.reconciler = reconciles  # type: ignore[assignment]
    for app in range(10):
        for _ in ("Service", "ServiceAccount", "Role", "RoleBinding"):  # a PD application's objects, all at once
            restorer.gone("ns", f"app-{app}")
    await eventually(lambda: reconciles.running == AT_ONCE, what="the first restores running")
    reconciles.release.set()
    await eventually(lambda: len(reconciles.started) == 10, what="every application restored")
    await eventually(lambda: reconciles.running == 0, what="the restores done")
    assert sorted(reconciles.started) == sorted({("ns", f"app-{app}") for app in range(10)})
    assert reconciles.most == AT_ONCE
    await restorer.close()
    restorer.gone("ns", "app-0")  # after shutdown began: nothing starts
    assert restorer.idle()
    assert len(reconciles.started) == 10


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_only_the_partitions_holder_restores_and_a_take_over_restores_what_was_deleted_lately() -> None:
    apps = [f"app-{i}" for i in range(40)]
    mine = {p for p in range(8) if p % 2 == 0}  # two replicas: this one holds the even partitions
    owned: set[int] = set(mine)
    clock = Clock()
    reconciles = Reconciles()
    reconciles.release.set()
    restorer = OffBus(8, lambda: owned, 30.0, clock)
    restorer.reconciler = reconciles  # type: ignore[assignment]
    for app in apps:
        restorer.gone("ns", app)
    ours = {("ns", a) for a in apps if partition_of("ns", a, 8) in mine}
    assert ours
    assert len(ours) < len(apps)
    await eventually(lambda: set(reconciles.started) == ours, what="this replica's applications restored")
    assert len(reconciles.started) == len(ours), "a restore ran twice"

    # the other replica died: its partitions come here, one after another
    old = [a for a in apps if partition_of("ns", a, 8) == 1]
    clock.now += 60  # partition 1's deletions are older than a Lease's time by now: its new holder does not act
    recent = [a for a in apps if partition_of("ns", a, 8) == 3]
    assert old
    assert recent
    for app in recent:
        restorer.gone("ns", app)  # seen again just now
    owned |= {1, 3}
    restorer.taken(1)
    restorer.taken(3)
    await eventually(lambda: len(reconciles.started) == len(ours) + len(recent), what="the recent ones restored")
    assert {("ns", a) for a in recent} <= set(reconciles.started)
    assert not {("ns", a) for a in old} & set(reconciles.started)
    await restorer.close()


async def test_news_that_waited_while_its_partition_was_given_away_is_left_to_the_new_holder() -> None:
    owned = set(range(8))
    reconciles = Reconciles()
    off_bus = OffBus(8, lambda: owned, 60.0)
    off_bus.reconciler = reconciles  # type: ignore[assignment]
    apps = [f"app-{i}" for i in range(40)]
    for app in apps:
        off_bus.pods_changed("ns", app)
    await eventually(lambda: reconciles.running == AT_ONCE, what="the first reconciles running")
    owned.clear()  # every partition handed to another replica (a rebalance, a lapse)
    reconciles.release.set()
    await eventually(off_bus.idle, what="the news worked off")
    assert len(reconciles.started) == AT_ONCE, "a reconcile ran on a replica that no longer held its partition"
    owned.add(3)  # one comes back: what waited there is acted on
    off_bus.taken(3)
    back = {("ns", a) for a in apps if partition_of("ns", a, 8) == 3} - set(reconciles.started[:AT_ONCE])
    await eventually(lambda: set(reconciles.started[AT_ONCE:]) == back, what="partition 3's news reconciled")
    await off_bus.close()


async def test_pods_news_is_left_alone_while_messages_look_at_the_pods_anyway() -> None:
    class Looking(Reconciles):
        def looking(self, namespace: str, name: str) -> bool:
            return name == "rolling"

    reconciles = Looking()
    reconciles.release.set()
    off_bus = OffBus(8, lambda: range(8), 60.0)
    off_bus.reconciler = reconciles  # type: ignore[assignment]
    off_bus.pods_changed("ns", "rolling")
    off_bus.pods_changed("ns", "evicted")
    await eventually(lambda: reconciles.started == [("ns", "evicted")], what="the evicted one reconciled")
    await eventually(off_bus.idle, what="nothing else")
    assert reconciles.started == [("ns", "evicted")]
    await off_bus.close()


async def test_a_look_from_an_earlier_hold_of_the_partition_does_not_silence_pods_news() -> None:
    """The looks of a message this replica held before its partition went away (another replica finished them)
    must not hide a pod's news once the partition comes back."""
    epoch = [1]
    reconciler = Reconciler(None, None, None, epoch=lambda: epoch[0])  # type: ignore[arg-type]
    reconciler._unsettled[("ns", "a")] = None
    with pytest.raises(Later):
        reconciler.look_again("ns", "a", ("arks.object.x", 7, 1))
    assert reconciler.looking("ns", "a")
    epoch[0] = 2  # the partition went away and came back
    assert not reconciler.looking("ns", "a")


async def test_news_whose_reconcile_the_bus_would_retry_is_tried_again_a_few_times() -> None:
    class Failing(Reconciles):
        async def reconcile(self, namespace: str, name: str, **_: Any) -> None:
            self.started.append((namespace, name))
            raise TemporaryError("apply LeaderWorkerSet: 429 Too Many Requests", delay_seconds=0.01)

    reconciles = Failing()
    off_bus = OffBus(8, lambda: range(8), 60.0)
    off_bus.reconciler = reconciles  # type: ignore[assignment]
    off_bus.gone("ns", "a")
    await eventually(lambda: len(reconciles.started) == TRIES and off_bus.idle(), what="the tries made")
    assert reconciles.started == [("ns", "a")] * TRIES
    await off_bus.close()


class Writing(Reconciles):
    """A reconcile that reads, waits (a slow request), then writes what it read: `wrote` once it got that far,
    `cut` when it was cancelled before."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote: list[tuple[str, str]] = []
        self.cut: list[tuple[str, str]] = []

    async def reconcile(self, namespace: str, name: str, **_: Any) -> None:
        self.started.append((namespace, name))
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cut.append((namespace, name))
            raise
        self.wrote.append((namespace, name))


async def test_a_reconcile_under_way_when_its_partition_is_given_away_writes_nothing_more() -> None:
    """Its partition goes to another replica (a rebalance, a lapse) while the reconcile waits on a request: it is
    cut off before the partition's Lease is released (`given` returns once it ended), so it never writes what it
    read before the hand-over over what the new holder writes; a reconcile of another partition goes on. The news
    is remembered: the partition back, it is reconciled again. Before, the reconcile went on and wrote."""
    owned = set(range(8))
    writes = Writing()
    off_bus = OffBus(8, lambda: owned, 60.0)
    off_bus.reconciler = writes  # type: ignore[assignment]
    moved = "app-0"
    p = partition_of("ns", moved, 8)
    kept = next(f"app-{i}" for i in range(1, 40) if partition_of("ns", f"app-{i}", 8) != p)
    off_bus.gone("ns", moved)
    off_bus.pods_changed("ns", kept)
    await eventually(lambda: len(writes.started) == 2, what="both reconciles under way")
    owned.discard(p)
    await off_bus.given(p)
    assert writes.cut == [("ns", moved)]
    writes.release.set()
    await eventually(lambda: writes.wrote == [("ns", kept)], what="the other partition's reconcile written")
    await eventually(off_bus.idle, what="nothing left under way")
    assert ("ns", moved) not in writes.wrote
    owned.add(p)  # back again, within the time news is remembered
    off_bus.taken(p)
    await eventually(lambda: ("ns", moved) in writes.wrote, what="the news reconciled by the partition's holder")
    await off_bus.close()


async def test_news_that_arrives_while_its_partition_stops_waits_for_a_take_over() -> None:
    """Between `given` and the end of the hold, the owner may still list the partition: news seen then is not acted
    on here (only remembered), like news of another replica's partition."""
    owned = set(range(8))
    writes = Writing()
    writes.release.set()
    off_bus = OffBus(8, lambda: owned, 60.0)
    off_bus.reconciler = writes  # type: ignore[assignment]
    p = partition_of("ns", "app-0", 8)
    await off_bus.given(p)  # `owned` still shows it
    off_bus.gone("ns", "app-0")
    assert off_bus.idle()
    assert writes.started == []
    off_bus.taken(p)
    await eventually(lambda: writes.wrote == [("ns", "app-0")], what="reconciled once taken again")
    await off_bus.close()


async def test_applications_found_without_their_set_at_start_wait_for_their_partition_however_long_and_many() -> None:
    """The start-up look runs once, often before this replica holds a partition (the dead pod's Leases run on): what
    it finds is kept until the partition comes, past the time other news is remembered and past its count (before:
    the bounded memory of other replicas' news kept the newest 1,024 for 4 Lease durations, and the rest said
    Running with no set until their next change)."""
    owned: set[int] = set()
    clock = Clock()
    reconciles = Reconciles()
    reconciles.release.set()
    off_bus = OffBus(8, lambda: owned, 60.0, clock)
    off_bus.reconciler = reconciles  # type: ignore[assignment]
    apps = [f"app-{i}" for i in range(3000)]
    for app in apps:
        off_bus.missing("ns", app)
    assert off_bus.idle()
    clock.now += 3600  # the Leases came an hour later
    owned.update(range(8))
    for p in range(8):
        off_bus.taken(p)
    await eventually(lambda: len(reconciles.started) == len(apps), within=30.0, what="every application reconciled")
    assert sorted(reconciles.started) == sorted(("ns", a) for a in apps)
    await off_bus.close()


async def test_news_cut_off_by_a_hand_over_is_remembered_as_of_the_hand_over() -> None:
    """News first seen long ago (tried again for a while) and cut off when its partition goes is still news then: the
    partition back within the time news is remembered, it is reconciled (before: remembered as of its first sighting,
    too old for the take-over to act on)."""
    owned = set(range(8))
    clock = Clock()
    writes = Writing()
    off_bus = OffBus(8, lambda: owned, 60.0, clock)
    off_bus.reconciler = writes  # type: ignore[assignment]
    p = partition_of("ns", "app-0", 8)
    off_bus.gone("ns", "app-0")
    await eventually(lambda: writes.started == [("ns", "app-0")], what="the reconcile under way")
    clock.now += 70  # its retries took a while
    owned.discard(p)
    await off_bus.given(p)
    clock.now += 30
    owned.add(p)
    off_bus.taken(p)
    writes.release.set()
    await eventually(lambda: writes.wrote == [("ns", "app-0")], what="reconciled by the partition's new hold")
    await off_bus.close()
