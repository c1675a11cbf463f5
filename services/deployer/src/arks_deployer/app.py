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
        restorer = _Restorer()
        cache = OwnedCache(kube, OWNED_KINDS, settings.watch_timeout_seconds, settings.stall_seconds, restorer.gone)
        ctx.add_task("owned objects cache", cache.run)
        endpoints = EndpointIndex()
        ctx.add_task("endpoints index", functools.partial(_watch_endpoints, kube, endpoints, settings))
        reconciler = Reconciler(kube, ctx.js, EventRecorder(kube, "deployer"), cache, lambda: ctx.partitions_taken)
        restorer.reconciler = reconciler
        handlers = Handlers(reconciler, EndpointReconciler(kube, ctx.js, endpoints))
        for decl in CONSUMERS:
            ctx.consume(decl, handlers.on_event)

        async def close() -> None:
            await restorer.close()
            await reconciler.close()  # its writes and dry runs in flight, before the client goes
            await kube.close()

        return close

    return setup


async def _watch_endpoints(kube: Kube, index: EndpointIndex, settings: DeployerSettings, stop: asyncio.Event) -> None:
    await mirror(kube, "endpoint", ENDPOINTS, index, stop, settings.watch_timeout_seconds, settings.stall_seconds)


RESTORES = 4
"""Applications restored at once: a namespace's deletion deletes every application's Service at once."""


class _Restorer:
    """Reconciles an application when an owned object no event tells of is deleted (its Service, a PD router's
    account): the reconcile applies it again. An application's deletions that come together (a router's account,
    Role and RoleBinding) share one reconcile; at most `RESTORES` run at once; none starts once shutdown began.
    Every replica's cache sees the deletion, and a reconcile that finds nothing to do writes nothing."""

    def __init__(self) -> None:
        self.reconciler: Reconciler | None = None
        self._waiting: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(RESTORES)
        self._closed = False

    def gone(self, namespace: str, application: str) -> None:
        key = (namespace, application)
        if self._closed or self.reconciler is None or key in self._waiting:
            return
        self._waiting.add(key)
        task = asyncio.create_task(self._restore(self.reconciler, key), name=f"restore {namespace}/{application}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restore(self, reconciler: Reconciler, key: tuple[str, str]) -> None:
        """One reconcile, read afresh; a failure is logged (the application's next event or change reconciles it)."""
        namespace, application = key
        async with self._slots:
            self._waiting.discard(key)  # a deletion from here on needs a look after this one's read
            try:
                await reconciler.reconcile(namespace, application, trust_copy=False)
            except Exception as exc:  # a retry the bus would make (TemporaryError, Later) has no message to ride here
                log.info(
                    "restoring a deleted object failed", application=f"{namespace}/{application}", error=str(exc)[:300]
                )

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(cancel_firmly(task) for task in list(self._tasks)))
