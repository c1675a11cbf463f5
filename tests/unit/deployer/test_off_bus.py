"""The deployer's reconciles on news no bus message carries (here: an owned object no event tells of deleted): one
reconcile for an application's deletions that come together, a bounded number at once, none after shutdown began,
only by the replica holding the application's partition (or the one that takes it over soon after)."""

from __future__ import annotations

import asyncio
from typing import Any

from arks_common.events.partitions import partition_of
from arks_deployer.app import AT_ONCE, _OffBus
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


async def test_a_namespaces_deletions_are_restored_a_few_at_a_time_once_per_application() -> None:
    reconciles = Reconciles()
    restorer = _OffBus(8, lambda: range(8), 30.0)
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
    assert not restorer._tasks


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
    restorer = _OffBus(8, lambda: owned, 30.0, clock)
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
