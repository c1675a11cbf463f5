"""The deployer: applies plans and replica counts, owns Ready, phase, replica counts, finalizer, deletion."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from arks_common.events.contract import DEPLOYER_ENDPOINT_PLANS, DEPLOYER_OBJECTS, DEPLOYER_PLANS, DEPLOYER_SCALE
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.events import EventRecorder
from arks_common.kube.mirror import mirror
from arks_common.kube.resources import ENDPOINTS, OWNED_KINDS
from arks_common.runner import ServiceContext
from arks_deployer.core.endpoint_index import EndpointIndex
from arks_deployer.endpoints import EndpointReconciler
from arks_deployer.handlers import Handlers
from arks_deployer.owned_cache import OwnedCache
from arks_deployer.reconcile import Reconciler
from arks_deployer.settings import DeployerSettings

CONSUMERS = (DEPLOYER_PLANS, DEPLOYER_OBJECTS, DEPLOYER_SCALE, DEPLOYER_ENDPOINT_PLANS)


def make_setup(settings: DeployerSettings) -> Callable[[ServiceContext], Awaitable[Callable[[], Awaitable[None]]]]:
    async def setup(ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
        kube = Kube(await load_api_client(settings.kubeconfig), "arks-deployer")
        ctx.kube = kube  # its partition Leases
        cache = OwnedCache(kube, OWNED_KINDS, settings.watch_timeout_seconds, settings.stall_seconds)
        ctx.add_task("owned objects cache", cache.run)
        endpoints = EndpointIndex()
        ctx.add_task("endpoints index", functools.partial(_watch_endpoints, kube, endpoints, settings))
        reconciler = Reconciler(kube, ctx.js, EventRecorder(kube, "deployer"), cache, lambda: ctx.partitions_taken)
        handlers = Handlers(reconciler, EndpointReconciler(kube, ctx.js, endpoints))
        for decl in CONSUMERS:
            ctx.consume(decl, handlers.on_event)

        async def close() -> None:
            await reconciler.close()  # its writes and dry runs in flight, before the client goes
            await kube.close()

        return close

    return setup


async def _watch_endpoints(kube: Kube, index: EndpointIndex, settings: DeployerSettings, stop: asyncio.Event) -> None:
    await mirror(kube, "endpoint", ENDPOINTS, index, stop, settings.watch_timeout_seconds, settings.stall_seconds)
