"""The partition owner against an in-memory Lease store that honours resourceVersion preconditions as the API
server does (a stand-in: what is tested is the owner's order of reads and compare-and-set writes).

Scenario: replica A holds every partition; the API server is away from A for longer than the lease (A's
consumers are cut off at its hold's end, as designed). When it comes back, A and B run a round at about the
same time: A lists (the partition Leases still name A), B lists and, seeing A's membership expired, takes
every partition (compare-and-set on each partition Lease: succeeds, A never rewrote them). A then renews its
membership and -- from its stale list -- "keeps" and restarts its partitions. Both consume the same partitions
until A's next round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from arks_common.sharing.owner import PartitionOwner
from support.leases import FakeKube, Store
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
