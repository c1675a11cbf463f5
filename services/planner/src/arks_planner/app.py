"""The planner: validates applications (the `Precheck` condition) and publishes their deployment plans."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from arks_common.events.contract import PLANNER_OBJECTS
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.events import EventRecorder
from arks_common.runner import ServiceContext
from arks_common.stopping import sleep_unless, unless_stopped, until_done
from arks_common.telemetry.logging import get_logger
from arks_planner.core.endpoint import RouterSettings
from arks_planner.core.endpoint import backend_port as backend_port  # the planner's start checks it
from arks_planner.core.profiles import load_profiles
from arks_planner.endpoints import EndpointPlanner
from arks_planner.handlers import Handlers
from arks_planner.planning import Planner
from arks_planner.settings import PlannerSettings

log = get_logger(__name__)
RECHECK_FIRST_PAUSE_SECONDS = 5.0
"""The first pause before a start-up re-check that could not list is tried again (doubling up to the relist)."""
CONSUMERS = (PLANNER_OBJECTS,)


def make_setup(settings: PlannerSettings) -> Callable[[ServiceContext], Awaitable[Callable[[], Awaitable[None]]]]:
    # read at start, before the loop runs: a bad override file stops the planner with a clear error
    override = (
        Path(settings.runtime_profiles_file).read_text(encoding="utf-8") if settings.runtime_profiles_file else None
    )
    profiles = load_profiles(override, settings.runtime_profiles_set)
    port, port_problem = backend_port(profiles)
    if port_problem is not None:
        log.warning("endpoint routers cannot reach every runtime", problem=port_problem)

    async def setup(ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
        kube = Kube(await load_api_client(settings.kubeconfig), "arks-planner")
        ctx.kube = kube  # its partition Leases
        events = EventRecorder(kube, "planner")
        planner = Planner(kube, ctx.js, profiles, events, lambda: ctx.partitions_taken, settings.bus_partitions)
        router = RouterSettings(image=settings.router_image, backend_port=port, port_problem=port_problem)
        endpoints = EndpointPlanner(kube, ctx.js, router, events, settings.bus_partitions)
        ctx.consume(PLANNER_OBJECTS, Handlers(planner, endpoints).on_object)

        async def recheck(stop: asyncio.Event) -> None:
            # each waits on the API server and JetStream: a SIGTERM must not wait for their timeouts
            # until each is done: skipped on an API refusal, an upgrade's re-plan (a new profile or router image,
            # an endpoint's plan of its own generation) would wait for an event that may never come
            for check in (planner.recheck_all, endpoints.recheck_all):
                if not await until_done(stop, check, RECHECK_FIRST_PAUSE_SECONDS, settings.relist_seconds):
                    return
            # then, on a schedule, the plans of objects whose deletion was never told (the watcher was down), of the
            # partitions this replica holds: their holders sweep the others, so no two replicas purge one subject
            while not stop.is_set():
                await sleep_unless(stop, settings.relist_seconds)
                for sweep in (planner.sweep_orphans, endpoints.sweep_orphans):
                    finished, _ = await unless_stopped(stop, sweep(ctx.owned_partitions()))
                    if not finished:
                        return

        ctx.add_task("re-checks", recheck)
        return kube.close

    return setup
