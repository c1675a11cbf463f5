"""Runs a service: one named task per consumer under a supervisor, and an orderly shutdown.

When any task dies, all stop (a half-running service is worse than a restarted one). On SIGTERM the
service stops fetching, lets in-flight work finish within the grace period, drains NATS, then cancels and
awaits whatever is left — no task is left unsupervised.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext

from arks_common.bus.bootstrap import wait_until_declared
from arks_common.bus.connection import connect
from arks_common.bus.consumer import DurableConsumer, Handler
from arks_common.cli import package_version
from arks_common.events.contract import ConsumerDecl
from arks_common.events.partitions import is_partitioned
from arks_common.kube.client import Kube
from arks_common.settings import CommonSettings
from arks_common.sharing.owner import PartitionOwner
from arks_common.stopping import unless_stopped
from arks_common.telemetry.http import start_http
from arks_common.telemetry.logging import get_logger, setup_logging
from arks_common.telemetry.tracing import setup_tracing

log = get_logger(__name__)

TaskFactory = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class ServiceContext:
    """What a running service shares with its tasks."""

    settings: CommonSettings
    nc: Client
    js: JetStreamContext
    stop: asyncio.Event
    ready: bool = False
    tasks: dict[str, TaskFactory] = field(default_factory=dict)
    partitioned: list[tuple[ConsumerDecl, Handler]] = field(default_factory=list)
    kube: Kube | None = None
    """Where the partition Leases are held: set by a service with partitioned consumers."""
    owner: PartitionOwner | None = None
    partitions_taken: int = 0
    """How many times this replica has started consuming a partition: a copy of an object kept from before the
    last take-over may be older than what another replica saw meanwhile (`kube.newest`)."""
    taken_listeners: list[Callable[[int], None]] = field(default_factory=list)
    given_listeners: list[Callable[[int], Awaitable[None]]] = field(default_factory=list)

    def consume(self, decl: ConsumerDecl, handler: Handler) -> None:
        """A shared declaration runs as one task; a partitioned one runs for each partition this replica holds
        (see `share_partitions`)."""
        if is_partitioned(decl):
            self.partitioned.append((decl, handler))
            return
        consumer = DurableConsumer(self.js, decl, handler, stall_seconds=self.settings.stall_seconds)
        self.tasks[f"consumer {decl.durable}"] = consumer.run

    def owned_partitions(self) -> tuple[int, ...]:
        """The partitions this replica consumes now (none before its share is known)."""
        return self.owner.owned() if self.owner is not None else ()

    def on_partition_taken(self, listener: Callable[[int], None]) -> None:
        """`listener(partition)` runs each time this replica starts consuming a partition."""
        self.taken_listeners.append(listener)

    def on_partition_given(self, listener: Callable[[int], Awaitable[None]]) -> None:
        """`await listener(partition)` runs each time this replica stops consuming a partition (given back, its hold
        run out, shutdown), once its consumers stopped and before its Lease is released: work of that partition
        done outside the consumers ends there, as the consumers' own does."""
        self.given_listeners.append(listener)

    def add_task(self, name: str, factory: TaskFactory) -> None:
        self.tasks[name] = factory

    async def run_partition(self, partition: int, stop: asyncio.Event) -> None:
        """Runs every partitioned consumer on `partition` until `stop` is set (or it is cancelled: the hold ran out),
        telling the listeners when it starts and, once the consumers stopped, when it ends."""
        self.partitions_taken += 1
        for listener in self.taken_listeners:
            listener(partition)
        try:
            async with asyncio.TaskGroup() as tg:
                for decl, handler in self.partitioned:
                    consumer = DurableConsumer(
                        self.js, decl, handler, stall_seconds=self.settings.stall_seconds, partition=partition
                    )
                    tg.create_task(consumer.run(stop), name=f"consumer {decl.durable}-{partition}")
        finally:
            for given in self.given_listeners:
                await given(partition)

    def share_partitions(self, service: str) -> None:
        """One task holds this replica's share of the partitions and runs all partitioned consumers of each."""
        if not self.partitioned:
            return
        if self.kube is None:
            raise RuntimeError(f"{service}: partitioned consumers need the Kubernetes client for their Leases")

        self.owner = PartitionOwner(
            self.kube,
            self.settings.effective_lease_namespace(),
            service,
            self.settings.bus_partitions,
            self.settings.partition_lease_seconds,
            self.run_partition,
        )
        self.tasks["partition owner"] = self.owner.run


Setup = Callable[[ServiceContext], Awaitable[Callable[[], Awaitable[None]]]]
"""Registers the service's tasks on the context and returns its cleanup coroutine function."""


async def run_service(name: str, settings: CommonSettings, setup: Setup, consumers: tuple[ConsumerDecl, ...]) -> int:
    setup_logging(name, settings.log_level, settings.log_format)
    setup_tracing(name, settings.trace_exporter, settings.trace_file)
    log.info("service starting", version=package_version(f"arks-{name}"))  # not the URL: it may hold a password
    stop = asyncio.Event()
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    ctx: ServiceContext | None = None
    http = await start_http(settings.http_host, settings.http_port, lambda: ctx is not None and ctx.ready)
    try:
        # Every step before the tasks run can wait on the network for long; SIGTERM cuts each one short.
        nc = await connect(settings, name, closed, stop)
        if nc is None:
            log.info("stopped before NATS was reached")
            return 0
        try:
            js = nc.jetstream()
            finished, declared = await unless_stopped(
                stop, wait_until_declared(js, consumers, stop, settings.bus_partitions)
            )
            if not (finished and declared):
                log.info("stopped while waiting for the bus")
                return 0
            ctx = ServiceContext(settings=settings, nc=nc, js=js, stop=stop)
            finished, cleanup = await unless_stopped(stop, setup(ctx))
            if not finished or cleanup is None:
                log.info("stopped while setting up")
                return 0
            ctx.share_partitions(name)
            ctx.ready = True
            log.info("service started", tasks=sorted(ctx.tasks))
            exit_code = await _supervise(ctx, closed)
            await cleanup()
            return exit_code
        finally:
            await _close(nc, settings.shutdown_grace_seconds)
    finally:
        await http.cleanup()


async def _close(nc: Client, grace: float) -> None:
    """Drains NATS when it is there; closes it at once when it is not (draining a connection that is
    reconnecting cannot succeed, and must not hold the exit)."""
    if nc.is_connected:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.drain(), timeout=grace)
    if not nc.is_closed:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=grace)


async def _supervise(ctx: ServiceContext, closed: asyncio.Event) -> int:
    tasks: set[asyncio.Task[None]] = {
        asyncio.create_task(factory(ctx.stop), name=name) for name, factory in ctx.tasks.items()
    }
    stopper = asyncio.create_task(ctx.stop.wait(), name="stop signal")
    lost = asyncio.create_task(closed.wait(), name="nats closed")
    done, _ = await asyncio.wait({*tasks, stopper, lost}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    for task in done & tasks:
        exc = task.exception()
        if exc is None and ctx.stop.is_set():
            continue  # it ended because it was told to stop
        log.error("task ended; stopping the service", task=task.get_name(), error=repr(exc))
        exit_code = 1
    if lost in done:
        log.error("nats connection closed for good; stopping")
        exit_code = 1
    ctx.stop.set()
    pending = [t for t in tasks if not t.done()]
    if pending:
        _, still = await asyncio.wait(pending, timeout=ctx.settings.shutdown_grace_seconds)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)
    for helper in (stopper, lost):
        helper.cancel()
    await asyncio.gather(stopper, lost, return_exceptions=True)
    log.info("service stopped", exit_code=exit_code)
    return exit_code
