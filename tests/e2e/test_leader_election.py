"""Leader election on a real Lease: one of two replicas leads; when it stops, the other takes over."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.leader import LeaderElector
from arks_localcluster.cluster import LocalCluster
from support.waiting import eventually

pytestmark = pytest.mark.cluster


async def test_one_replica_leads_and_another_takes_over_when_it_stops(local_cluster: LocalCluster) -> None:
    name = f"lease-{uuid.uuid4().hex[:6]}"
    kubes = [Kube(await load_api_client(str(local_cluster.kubeconfig)), "test") for _ in range(2)]
    electors = [LeaderElector(k, "default", name, duration=4.0, retry=0.5) for k in kubes]
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(e.run(s)) for e, s in zip(electors, stops, strict=True)]
    try:
        await eventually(lambda: sum(e.is_leader() for e in electors) == 1, within=30, what="one leader")
        for _ in range(6):  # over several rounds, never two leaders at once
            await asyncio.sleep(0.5)
            assert sum(e.is_leader() for e in electors) <= 1
        leader = next(i for i, e in enumerate(electors) if e.is_leader())
        stops[leader].set()
        await asyncio.wait_for(tasks[leader], timeout=10)
        other = electors[1 - leader]
        await eventually(other.is_leader, within=30, what="the other replica to take over")
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for kube in kubes:
            await kube.close()
