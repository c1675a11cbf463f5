"""Leader election on a real Lease: one of two replicas leads; when it stops, the other takes over at once (the
Lease is released); when it dies, within the lease time and one round of the other's own clock; a replica started
after the leader died waits the lease time from its first read of the Lease (it never saw it change)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.leader import LeaderElector
from arks_localcluster.cluster import LocalCluster
from support.waiting import eventually

pytestmark = pytest.mark.cluster

LEASE = 4.0
RETRY = 0.5


class Replica:
    def __init__(self, kube: Kube, name: str) -> None:
        self.kube = kube
        self.elector = LeaderElector(kube, "default", name, duration=LEASE, retry=RETRY)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run(self.stop))

    async def kill(self) -> None:
        """As kill -9 leaves it: the Lease is not released."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def replicas(local_cluster: LocalCluster) -> AsyncIterator[list[Replica]]:
    name = f"lease-{uuid.uuid4().hex[:6]}"
    kubes = [Kube(await load_api_client(str(local_cluster.kubeconfig)), "test") for _ in range(2)]
    made = [Replica(k, name) for k in kubes]
    try:
        yield made
    finally:
        for r in made:
            r.stop.set()
        await asyncio.gather(*(r.task for r in made if r.task is not None), return_exceptions=True)
        for kube in kubes:
            await kube.close()


async def test_one_replica_leads_and_another_takes_over_when_it_stops(replicas: list[Replica]) -> None:
    electors = [r.elector for r in replicas]
    for r in replicas:
        r.start()
    await eventually(lambda: sum(e.is_leader() for e in electors) == 1, within=30, what="one leader")
    for _ in range(6):  # over several rounds, never two leaders at once
        await asyncio.sleep(0.5)
        assert sum(e.is_leader() for e in electors) <= 1
    leader = next(i for i, e in enumerate(electors) if e.is_leader())
    replicas[leader].stop.set()
    await asyncio.wait_for(replicas[leader].task, timeout=10)  # type: ignore[arg-type]
    stopped = time.monotonic()
    other = electors[1 - leader]
    await eventually(other.is_leader, within=30, what="the other replica to take over")
    assert time.monotonic() - stopped < LEASE, "a released Lease is taken at once, not waited out"


async def test_a_killed_leaders_lease_is_taken_within_the_lease_and_a_round(replicas: list[Replica]) -> None:
    first, second = replicas
    first.start()
    await eventually(first.elector.is_leader, within=30, what="the first replica leading")
    second.start()
    await asyncio.sleep(2 * RETRY)  # the second has read the Lease held: a follower, not a newcomer
    assert not second.elector.is_leader()
    await first.kill()
    killed = time.monotonic()
    await eventually(second.elector.is_leader, within=LEASE + RETRY + 10, what="the second replica to take over")
    took = time.monotonic() - killed
    assert took <= LEASE + RETRY + 1.5, f"take-over took {took:.1f}s"


async def test_a_replica_started_after_the_leader_died_waits_the_lease_from_its_first_read(
    replicas: list[Replica],
) -> None:
    """The dead leader's renewTime looks old, but a newcomer never saw the Lease change: it might be a holder whose
    wall clock is behind, so the newcomer waits a whole lease time of its own clock."""
    first, second = replicas
    first.start()
    await eventually(first.elector.is_leader, within=30, what="the first replica leading")
    await first.kill()
    await asyncio.sleep(LEASE + 1)  # the Lease's renewTime is now older than its duration
    started = time.monotonic()
    second.start()
    await eventually(second.elector.is_leader, within=LEASE + RETRY + 10, what="the newcomer to lead")
    took = time.monotonic() - started
    assert LEASE <= took <= LEASE + RETRY + 1.5, f"the newcomer led after {took:.1f}s"
