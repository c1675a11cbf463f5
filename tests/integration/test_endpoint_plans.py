"""The planner publishing an ArksEndpoint's plan on a real nats-server, as it publishes an application's: a plan for
each generation of the endpoint (even one whose objects are the same), an older generation never replacing a newer
one (a compare-and-set on the subject), and a plan that returns (router image 1 -> 2 -> 1) never mistaken for a
duplicate of the first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext

from arks_common.bus.jetstream import ensure_stream
from arks_common.bus.plans import newest_endpoint_plan
from arks_common.events.contract import ENDPOINT_PLANS_STREAM
from arks_common.events.payloads import EndpointPlanReady
from arks_common.kube.client import KubeError
from arks_common.kube.resources import ENDPOINTS
from arks_planner.core.endpoint import RouterSettings
from arks_planner.endpoints import EndpointPlanner
from support.memory_kube import MemoryEvents, MemoryKube
from support.nats_server import NatsServer

NS, NAME = "team", "qwen"


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    try:
        context = nc.jetstream()
        await ensure_stream(context, ENDPOINT_PLANS_STREAM)
        yield context
    finally:
        await nc.close()


def planner(kube: MemoryKube, js: JetStreamContext | Any, image: str = "router:1") -> EndpointPlanner:
    router = RouterSettings(image=image, backend_port=8080)
    return EndpointPlanner(kube.as_kube(), js, router, MemoryEvents().as_recorder())


def endpoint(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksEndpoint",
        "metadata": {"namespace": NS, "name": NAME},
        "spec": spec,
    }


def edit(kube: MemoryKube, **spec: Any) -> None:
    """A spec change as the API server makes it: a new generation."""

    def change(obj: dict[str, Any]) -> None:
        obj["spec"] = spec
        obj["metadata"]["generation"] += 1

    kube.edit(ENDPOINTS, NS, NAME, change)


async def newest(js: JetStreamContext) -> EndpointPlanReady:
    _, plan = await newest_endpoint_plan(js, NS, NAME)
    assert plan is not None
    return plan


def image_of(plan: EndpointPlanReady) -> str:
    deployment = next(o for o in plan.objects if o["kind"] == "Deployment")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def service_port(plan: EndpointPlanReady) -> int:
    service = next(o for o in plan.objects if o["kind"] == "Service")
    return int(next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http"))


async def test_a_router_image_rolled_back_is_published_again(js: JetStreamContext) -> None:
    """Router image 1 -> 2 -> 1 (an upgrade rolled back; each planner re-plans every endpoint at start), within
    JetStream's duplicate window: the third plan is the first one's again, and before, with the first one's message
    id, JetStream dropped it as a duplicate and the endpoint kept image 2."""
    kube = MemoryKube()
    kube.put(ENDPOINTS, endpoint(servedModelName="qwen"))
    for image in ("router:1", "router:2", "router:1"):
        await planner(kube, js, image).recheck_all()
        assert image_of(await newest(js)) == image


async def test_each_generation_is_planned_even_when_its_objects_are_the_same(js: JetStreamContext) -> None:
    """Which applications `spec.applications` names is not in the router's objects (the deployer labels their
    pods), so such an edit leaves the plan hash as it was; the deployer reports a generation only from a plan of
    it, so the planner publishes one (before: none, and the endpoint never got past its old plan)."""
    kube = MemoryKube()
    kube.put(ENDPOINTS, endpoint(servedModelName="qwen", applications=["qwen-h100"]))
    await planner(kube, js).endpoint_changed(NS, NAME)
    first = await newest(js)
    edit(kube, servedModelName="qwen", applications=["qwen-l40s"])
    await planner(kube, js).endpoint_changed(NS, NAME)
    sequence, second = await newest_endpoint_plan(js, NS, NAME)
    assert second is not None
    assert (first.generation, second.generation) == (1, 2)
    assert second.plan_hash == first.plan_hash
    await planner(kube, js).endpoint_changed(NS, NAME)  # the same generation again: nothing new
    assert (await newest_endpoint_plan(js, NS, NAME))[0] == sequence


def stale_copy(kube: MemoryKube) -> MemoryKube:
    """An API server view still at the endpoint's current generation (a replica's read that a later edit passes)."""
    stale = MemoryKube()
    stale.put(ENDPOINTS, kube.store[(ENDPOINTS.plural, NS, NAME)])
    return stale


async def test_a_replica_that_read_an_older_generation_publishes_nothing_over_the_newer_plan(
    js: JetStreamContext,
) -> None:
    """A planner started with a new router image re-plans every endpoint (`recheck_all`) from its read of generation
    1, and the owner of the endpoint's partition has planned generation 2 (qwen:8080 edited to llama:9090) since:
    the generation-1 plan must not replace it (before, it did: the endpoint went back to qwen and port 8080)."""
    kube = MemoryKube()
    kube.put(ENDPOINTS, endpoint(servedModelName="qwen", port=8080))
    await planner(kube, js, "router:1").endpoint_changed(NS, NAME)
    stale = stale_copy(kube)
    edit(kube, servedModelName="llama", port=9090)
    await planner(kube, js, "router:2").endpoint_changed(NS, NAME)
    await planner(stale, js, "router:2").endpoint_changed(NS, NAME)
    plan = await newest(js)
    assert (plan.generation, service_port(plan)) == (2, 9090)


class PublishingMeanwhile:
    """A JetStream context through which the first publish lets `meanwhile` run first: another replica publishing
    between this one's read of the newest plan and its own publish."""

    def __init__(self, js: JetStreamContext, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self._js = js
        self._meanwhile: Callable[[], Awaitable[None]] | None = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)

    async def publish(self, *args: Any, **kwargs: Any) -> Any:
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            await meanwhile()
        return await self._js.publish(*args, **kwargs)


async def test_a_newer_plan_published_after_an_older_generations_read_wins_the_compare_and_set(
    js: JetStreamContext,
) -> None:
    """The same, with the owner publishing generation 2 after the stale replica read the newest plan (generation
    1, router image 1) and before it publishes its generation-1 plan with image 2: the subject moved, the publish is
    refused, and the replica, reading again, finds the newer generation and stops. Before, without a
    compare-and-set, the generation-1 plan was stored last and won."""
    kube = MemoryKube()
    kube.put(ENDPOINTS, endpoint(servedModelName="qwen", port=8080))
    await planner(kube, js, "router:1").endpoint_changed(NS, NAME)
    stale = stale_copy(kube)

    async def owner_plans_generation_2() -> None:
        edit(kube, servedModelName="llama", port=9090)
        await planner(kube, js, "router:2").endpoint_changed(NS, NAME)

    await planner(stale, PublishingMeanwhile(js, owner_plans_generation_2), "router:2").endpoint_changed(NS, NAME)
    plan = await newest(js)
    assert (plan.generation, service_port(plan), image_of(plan)) == (2, 9090, "router:2")


async def test_a_start_up_re_check_that_could_not_list_says_so_and_plans_when_tried_again(
    js: JetStreamContext,
) -> None:
    """The re-check at start is what gives an endpoint stored before an upgrade a plan of its own generation (the
    deployer reports no other) and a changed router image its re-plan; no event may ever come for it. A refused list
    skipped it for good; now it says it is not done (the planner's re-check task tries again, `until_done`)."""
    kube = MemoryKube()
    kube.put(ENDPOINTS, endpoint(servedModelName="qwen"))
    kube.refuse_list[ENDPOINTS.plural] = KubeError("the server is currently unable to handle the request", 503)
    assert await planner(kube, js).recheck_all() is False
    assert (await newest_endpoint_plan(js, NS, NAME))[1] is None
    del kube.refuse_list[ENDPOINTS.plural]
    assert await planner(kube, js).recheck_all() is True
    assert (await newest(js)).generation == 1
