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
from arks_common.stopping import cancel_firmly
from arks_common.telemetry.logging import get_logger
from arks_deployer.core.endpoint_index import EndpointIndex
from arks_deployer.endpoints import EndpointReconciler
from arks_deployer.handlers import Handlers
from arks_deployer.owned_cache import OwnedCache
from arks_deployer.reconcile import Reconciler
from arks_deployer.settings import DeployerSettings

log = get_logger(__name__)
CONSUMERS = (DEPLOYER_PLANS, DEPLOYER_OBJECTS, DEPLOYER_SCALE, DEPLOYER_ENDPOINT_PLANS)


def make_setup(settings: DeployerSettings) -> Callable[[ServiceContext], Awaitable[Callable[[], Awaitable[None]]]]:
    async def setup(ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
        kube = Kube(await load_api_client(settings.kubeconfig), "arks-deployer")
        ctx.kube = kube  # its partition Leases
        restoring: set[asyncio.Task[None]] = set()

        def gone(namespace: str, application: str) -> None:
            # an owned object deleted by hand that no event tells of (its Service, a PD router's account): the
            # application is reconciled, which applies it again; every replica's cache sees it, and a reconcile
            # that finds nothing to do writes nothing
            task = asyncio.create_task(_restore(reconciler, namespace, application), name=f"restore {application}")
            restoring.add(task)
            task.add_done_callback(restoring.discard)

        cache = OwnedCache(kube, OWNED_KINDS, settings.watch_timeout_seconds, settings.stall_seconds, gone)
        ctx.add_task("owned objects cache", cache.run)
        endpoints = EndpointIndex()
        ctx.add_task("endpoints index", functools.partial(_watch_endpoints, kube, endpoints, settings))
        reconciler = Reconciler(kube, ctx.js, EventRecorder(kube, "deployer"), cache, lambda: ctx.partitions_taken)
        handlers = Handlers(reconciler, EndpointReconciler(kube, ctx.js, endpoints))
        for decl in CONSUMERS:
            ctx.consume(decl, handlers.on_event)

        async def close() -> None:
            await asyncio.gather(*(cancel_firmly(task) for task in list(restoring)))
            await reconciler.close()  # its writes and dry runs in flight, before the client goes
            await kube.close()

        return close

    return setup


async def _watch_endpoints(kube: Kube, index: EndpointIndex, settings: DeployerSettings, stop: asyncio.Event) -> None:
    await mirror(kube, "endpoint", ENDPOINTS, index, stop, settings.watch_timeout_seconds, settings.stall_seconds)


async def _restore(reconciler: Reconciler, namespace: str, application: str) -> None:
    """One reconcile of `application`, read afresh; a failure is logged (its next event or change reconciles it)."""
    try:
        await reconciler.reconcile(namespace, application, trust_copy=False)
    except Exception as exc:  # a retry the bus would make (TemporaryError, Later) has no message to ride here
        log.info("restoring a deleted object failed", application=f"{namespace}/{application}", error=str(exc)[:300])
