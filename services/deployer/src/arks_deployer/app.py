"""The deployer: applies plans and replica counts, owns Ready, phase, replica counts, finalizer, deletion."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Collection

from arks_common.conventions import LABEL_APPLICATION
from arks_common.events.contract import DEPLOYER_ENDPOINT_PLANS, DEPLOYER_OBJECTS, DEPLOYER_PLANS, DEPLOYER_SCALE
from arks_common.events.partitions import partition_of
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.events import EventRecorder
from arks_common.kube.mirror import mirror
from arks_common.kube.resources import ENDPOINTS, OWNED_KINDS, PODS
from arks_common.runner import ServiceContext
from arks_common.stopping import cancel_firmly
from arks_common.telemetry.logging import get_logger
from arks_deployer.core.endpoint_index import EndpointIndex
from arks_deployer.core.terminating import TerminatingPods, trim_pod
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
        off_bus = _OffBus(settings.bus_partitions, ctx.owned_partitions, 2 * settings.partition_lease_seconds)
        ctx.on_partition_taken(off_bus.taken)
        cache = OwnedCache(kube, OWNED_KINDS, settings.watch_timeout_seconds, settings.stall_seconds, off_bus.gone)
        ctx.add_task("owned objects cache", cache.run)
        endpoints = EndpointIndex()
        ctx.add_task("endpoints index", functools.partial(_watch_endpoints, kube, endpoints, settings))
        terminating = TerminatingPods(off_bus.pod_going)
        ctx.add_task("terminating pods", functools.partial(_watch_pods, kube, terminating, settings))
        reconciler = Reconciler(
            kube, ctx.js, EventRecorder(kube, "deployer"), cache, lambda: ctx.partitions_taken, terminating.any
        )
        off_bus.reconciler = reconciler
        handlers = Handlers(reconciler, EndpointReconciler(kube, ctx.js, endpoints))
        for decl in CONSUMERS:
            ctx.consume(decl, handlers.on_event)

        async def close() -> None:
            await off_bus.close()
            await reconciler.close()  # its writes and dry runs in flight, before the client goes
            await kube.close()

        return close

    return setup


async def _watch_endpoints(kube: Kube, index: EndpointIndex, settings: DeployerSettings, stop: asyncio.Event) -> None:
    await mirror(kube, "endpoint", ENDPOINTS, index, stop, settings.watch_timeout_seconds, settings.stall_seconds)


async def _watch_pods(kube: Kube, index: TerminatingPods, settings: DeployerSettings, stop: asyncio.Event) -> None:
    await mirror(
        kube,
        "pod",
        PODS,
        index,
        stop,
        settings.watch_timeout_seconds,
        settings.stall_seconds,
        label_selector=LABEL_APPLICATION,
        trim=trim_pod,
    )


AT_ONCE = 4
"""Off-bus reconciles at once: a namespace's deletion deletes every application's Service (and pods) at once."""
DEFERRED = 1024
"""Deletions of other replicas' applications remembered for a take-over, the oldest forgotten first."""


class _OffBus:
    """Reconciles an application on news no bus message carries, from the deployer's own watches: an owned object
    no event may tell of deleted (its Service, a PD router's account, a LeaderWorkerSet deleted while the watcher
    was down: the reconcile applies it again), a pod of it starting to terminate (an eviction, a drain: the
    reconcile asks its pods which group still serves). An application's news that come together (a router's
    account, Role and RoleBinding) share one reconcile; at most `AT_ONCE` run at once; none starts once shutdown
    began.

    Every replica's watch sees the news; only the replica holding the application's partition reconciles it,
    so two replicas never reconcile one application at once. The others remember it for `remember_seconds` (about
    a Lease's time): a replica that takes that partition over meanwhile (its holder died with the deletion
    unreconciled) reconciles it then."""

    def __init__(
        self,
        partitions: int,
        owned: Callable[[], Collection[int]],
        remember_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._partitions = partitions
        self._clock = clock
        self._owned = owned
        self._remember = remember_seconds
        self.reconciler: Reconciler | None = None
        self._waiting: set[tuple[str, str]] = set()
        self._deferred: dict[
            tuple[str, str], tuple[int, float, str]
        ] = {}  # key -> (partition, when, why), oldest first
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(AT_ONCE)
        self._closed = False

    def gone(self, namespace: str, application: str) -> None:
        self._news((namespace, application), "restoring objects deleted by hand")

    def pod_going(self, namespace: str, application: str) -> None:
        self._news((namespace, application), "a pod is being deleted: asking the pods which groups serve")

    def _news(self, key: tuple[str, str], why: str) -> None:
        partition = partition_of(*key, self._partitions)
        self._deferred.pop(key, None)
        if partition in self._owned():
            self._start(key, why)
            return
        self._deferred[key] = (partition, self._clock(), why)  # at the end: the newest sighting
        while len(self._deferred) > DEFERRED:
            del self._deferred[next(iter(self._deferred))]

    def taken(self, partition: int) -> None:
        """This replica took `partition` over: reconcile on what its watches saw there lately."""
        recent = self._clock() - self._remember
        for key, (p, seen, why) in list(self._deferred.items()):
            if p == partition:
                del self._deferred[key]
                if seen >= recent:
                    self._start(key, why)

    def _start(self, key: tuple[str, str], why: str) -> None:
        if self._closed or self.reconciler is None or key in self._waiting:
            return
        self._waiting.add(key)
        task = asyncio.create_task(self._reconcile(self.reconciler, key, why), name=f"off-bus {key[0]}/{key[1]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile(self, reconciler: Reconciler, key: tuple[str, str], why: str) -> None:
        """One reconcile, read afresh; a failure is logged (the application's next event or change reconciles it)."""
        namespace, application = key
        async with self._slots:
            self._waiting.discard(key)  # news from here on needs a look after this one's read
            log.info(why, application=f"{namespace}/{application}")
            try:
                await reconciler.reconcile(namespace, application, trust_copy=False)
            except Exception as exc:  # a retry the bus would make (TemporaryError, Later) has no message to ride here
                log.info(
                    "reconciling on off-bus news failed",
                    why=why,
                    application=f"{namespace}/{application}",
                    error=str(exc)[:300],
                )

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(cancel_firmly(task) for task in list(self._tasks)))
