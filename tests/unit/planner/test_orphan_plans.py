"""The planner's scheduled sweep of orphan plans (plans of applications and endpoints the API server no longer
has: a deletion the watcher never told) runs in every planner replica, each for the partitions it holds, so two
replicas never purge the same subject, and together they sweep every partition. At start a replica does not know
its share yet: it sweeps all (bounded by the sequence read before its list, like every sweep)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext

from arks_common.bus.jetstream import ensure_stream
from arks_common.bus.plans import stored_keys
from arks_common.events.contract import ENDPOINT_PLANS, ENDPOINT_PLANS_STREAM, PLANS, PLANS_STREAM, StreamDecl
from arks_common.events.partitions import partition_of
from arks_common.kube.resources import APPLICATIONS, ENDPOINTS
from arks_planner.core.endpoint import RouterSettings
from arks_planner.core.orphans import Key, orphans
from arks_planner.core.profiles import load_profiles
from arks_planner.endpoints import EndpointPlanner
from arks_planner.planning import Planner
from support.memory_kube import MemoryEvents, MemoryKube
from support.nats_server import NatsServer

P = 4
NAMES = [("team-a", f"app-{i}") for i in range(8)] + [("team-b", f"app-{i}") for i in range(8)]
LIVE = {("team-a", "app-0"), ("team-b", "app-5")}


def _in(partitions: set[int]) -> set[Key]:
    return {key for key in NAMES if partition_of(*key, P) in partitions}


def test_the_names_hash_into_every_partition() -> None:
    """(What the tables below rely on.)"""
    assert {partition_of(*key, P) for key in NAMES} == set(range(P))


@pytest.mark.parametrize(
    ("live", "owned", "want"),
    [
        (LIVE, None, set(NAMES) - LIVE),
        (LIVE, set(range(P)), set(NAMES) - LIVE),
        (LIVE, {0}, _in({0}) - LIVE),
        (LIVE, {1, 3}, _in({1, 3}) - LIVE),
        (LIVE, set(), set()),
        (set(NAMES), None, set()),
        (set(), {2}, _in({2})),
    ],
    ids=[
        "at start, of every partition",
        "holding every partition, every orphan",
        "holding one partition, its orphans only",
        "holding two, theirs only",
        "holding none (a standby replica), none",
        "nothing gone, nothing",
        "everything gone, the held partition's",
    ],
)
def test_a_sweep_takes_the_gone_objects_plans_of_the_partitions_it_holds(
    live: set[Key], owned: set[int] | None, want: set[Key]
) -> None:
    got = orphans(NAMES, live, owned, P)
    assert got == sorted(want)


def test_two_replicas_holding_disjoint_partitions_take_disjoint_orphans_that_together_are_all() -> None:
    first, second = orphans(NAMES, LIVE, {0, 1}, P), orphans(NAMES, LIVE, {2, 3}, P)
    assert not set(first) & set(second)
    assert set(first) | set(second) == set(NAMES) - LIVE


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    try:
        context = nc.jetstream()
        for stream in (PLANS_STREAM, ENDPOINT_PLANS_STREAM):
            await ensure_stream(context, stream, partitions=P)
        yield context
    finally:
        await nc.close()


async def _stored_now(js: JetStreamContext, stream: StreamDecl) -> set[Key]:
    return (await stored_keys(js, stream))[1]


@pytest.mark.parametrize("kind", ["application", "endpoint"])
async def test_each_replica_purges_the_orphan_plans_of_its_own_partitions_only(js: JetStreamContext, kind: str) -> None:
    """Two planner replicas over one bus (a real nats-server, its streams partitioned in P) and one API server that
    holds two of the sixteen objects planned: the replica holding partitions 0 and 1 removes the orphan plans
    stored there and leaves the others' to the replica holding 2 and 3; a standby replica (no partition) removes
    nothing. Before, every replica's sweep removed every orphan plan."""
    kube = MemoryKube()
    stream, channel, resource = (
        (PLANS_STREAM, PLANS, APPLICATIONS)
        if kind == "application"
        else (ENDPOINT_PLANS_STREAM, ENDPOINT_PLANS, ENDPOINTS)
    )
    for namespace, name in NAMES:
        await js.publish(channel.subject(namespace, name), b"{}")
    for namespace, name in LIVE:
        kube.put(resource, {"metadata": {"namespace": namespace, "name": name}})
    assert await _stored_now(js, stream) == set(NAMES)

    def replica() -> Planner | EndpointPlanner:
        events = MemoryEvents().as_recorder()
        if kind == "application":
            return Planner(kube.as_kube(), js, load_profiles(None, "default"), events, partitions=P)
        router = RouterSettings(image="router", backend_port=8080)
        return EndpointPlanner(kube.as_kube(), js, router, events, partitions=P)

    first, second, standby = replica(), replica(), replica()
    await standby.sweep_orphans(())
    assert await _stored_now(js, stream) == set(NAMES)
    await first.sweep_orphans((0, 1))
    assert await _stored_now(js, stream) == set(NAMES) - (_in({0, 1}) - LIVE)
    await second.sweep_orphans((2, 3))
    assert await _stored_now(js, stream) == LIVE
