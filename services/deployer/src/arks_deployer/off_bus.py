"""Reconciles an application on news no bus message carries, from the deployer's own watches: an owned object no
event may tell of deleted (its Service, a PD router's account, a LeaderWorkerSet deleted while the watcher was down:
the reconcile applies it again; one deleted while no watch of the deployer ran either: its relist finds it gone, and
at start an application it brought up lacks one its spec or its router set calls for), or a pod of it starting or
ending to terminate (an eviction, a drain: the reconcile asks its pods which groups still serve).

Every replica's watches see the news; only the replica holding the application's partition reconciles it, so two
replicas never reconcile one application at once (its ownership is looked at again when a worker takes the news:
a partition given away meanwhile acts on it through its next holder). The others remember it for `remember_seconds`:
a replica that takes that partition over meanwhile (its holder died with the news not acted on) reconciles it then.
A reconcile running when its partition goes (given back, its hold run out) is cut off before the partition's Lease
is released (`given`), as the partition's consumers are: it would otherwise go on writing what it read before the
hand-over (a status, an Event, a LeaderWorkerSet from an older plan) over what the new holder writes meanwhile.
Pending news is one entry per application, however much came (a router's account, Role and RoleBinding deleted
together share one reconcile), worked off by `AT_ONCE` workers; nothing starts once shutdown began.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

from arks_common.bus.consumer import Later, TemporaryError
from arks_common.events.partitions import partition_of
from arks_common.stopping import cancel_firmly
from arks_common.telemetry.logging import get_logger
from arks_deployer.reconcile import Reconciler

log = get_logger(__name__)

AT_ONCE = 4
"""Off-bus reconciles at once: a namespace's deletion deletes every application's Service (and pods) at once."""
DEFERRED = 1024
"""News of other replicas' applications remembered for a take-over, the oldest forgotten first."""
TRIES = 3
"""Reconciles of one piece of news at most, when the first fails as the bus would retry it."""
RETRY_SECONDS = 5.0
"""The wait before trying again when the failure names none."""
GONE = "restoring objects deleted by hand"
MISSING = "restoring objects deleted while no watch ran"
PODS = "pods started or ended terminating: asking the pods which groups serve"

Key = tuple[str, str]


class OffBus:
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
        self._pending: OrderedDict[Key, tuple[float, str, int]] = OrderedDict()
        """This replica's news waiting for a worker: (when seen, why, tries so far), oldest first."""
        self._retries: set[asyncio.Task[None]] = set()
        self._running: dict[Key, tuple[asyncio.Task[None], float, str]] = {}
        """Reconciles under way: (task, when its news was seen, why), by application."""
        self._cut: set[int] = set()
        """Partitions given away since this replica last took them: what `owned` may still show while they stop."""
        self._deferred: OrderedDict[Key, tuple[int, float, str]] = OrderedDict()
        """Other replicas' news: (partition, when seen, why), oldest first."""
        self._missing: dict[Key, int] = {}
        """Applications of other replicas' partitions the start-up look found lacking an object, by partition: kept
        until this replica takes the partition (however late, however many: the look runs once, often before this
        replica holds any partition)."""
        self._work = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self.running = 0
        self._closed = False

    def gone(self, namespace: str, application: str) -> None:
        self._news((namespace, application), GONE)

    def missing(self, namespace: str, application: str) -> None:
        key = (namespace, application)
        partition = partition_of(*key, self._partitions)
        if self._ours(partition):
            self._queue(key, self._clock(), MISSING)
        else:
            self._missing[key] = partition

    def pods_changed(self, namespace: str, application: str) -> None:
        owned = partition_of(namespace, application, self._partitions) in self._owned()
        if owned and self.reconciler is not None and self.reconciler.looking(namespace, application):
            return  # its pods are looked at again anyway (`Reconciler.look_again`)
        self._news((namespace, application), PODS)

    def taken(self, partition: int) -> None:
        """This replica took `partition` over: reconcile on what its watches saw there lately."""
        self._cut.discard(partition)
        now = self._clock()
        recent = now - self._remember
        for key, (p, seen, why) in list(self._deferred.items()):
            if p == partition:
                del self._deferred[key]
                if seen >= recent:
                    self._queue(key, seen, why)
        for key in [k for k, p in self._missing.items() if p == partition]:
            del self._missing[key]
            self._queue(key, now, MISSING)

    async def given(self, partition: int) -> None:
        """This replica stops consuming `partition`: its reconciles under way are cut off (cancelled at their next
        await, so before their next write) and returns once they ended; their news, and any waiting, is remembered
        for a take-over, as other replicas' news is."""
        self._cut.add(partition)
        now = self._clock()  # news still unsettled now: remembered as of now (a long retry's first sighting is old)
        for key in [k for k in self._pending if partition_of(*k, self._partitions) == partition]:
            _, why, _ = self._pending.pop(key)
            self._defer(key, partition, now, why)
        cut = [(key, *held) for key, held in self._running.items() if partition_of(*key, self._partitions) == partition]
        for key, task, _, why in cut:
            task.cancel()
            self._defer(key, partition, now, why)
        await asyncio.gather(*(task for _, task, _, _ in cut), return_exceptions=True)
        if cut:
            log.info("off-bus reconciles cut off: partition given away", partition=partition, applications=len(cut))

    def _ours(self, partition: int) -> bool:
        return partition in self._owned() and partition not in self._cut

    def idle(self) -> bool:
        return not self._pending and self.running == 0 and not self._retries

    def _news(self, key: Key, why: str) -> None:
        partition = partition_of(*key, self._partitions)
        if self._ours(partition):
            self._deferred.pop(key, None)
            self._queue(key, self._clock(), why)
        else:
            self._defer(key, partition, self._clock(), why)

    def _defer(self, key: Key, partition: int, seen: float, why: str) -> None:
        self._deferred.pop(key, None)
        self._deferred[key] = (partition, seen, why)  # at the end: the newest sighting
        while len(self._deferred) > DEFERRED:
            self._deferred.popitem(last=False)

    def _queue(self, key: Key, seen: float, why: str, tries: int = 0) -> None:
        if self._closed or self.reconciler is None:
            return
        if key not in self._pending:  # news already waiting covers this one: its reconcile reads afresh
            self._pending[key] = (seen, why, tries)
        if not self._workers:
            self._workers = [asyncio.create_task(self._worker(), name=f"off-bus {i}") for i in range(AT_ONCE)]
        self._work.set()

    async def _worker(self) -> None:
        while not self._closed:
            if not self._pending:
                self._work.clear()
                await self._work.wait()
                continue
            key, (seen, why, tries) = self._pending.popitem(last=False)  # news from here on: a look after this read
            partition = partition_of(*key, self._partitions)
            if not self._ours(partition):  # given away while it waited: its next holder's take-over acts
                self._defer(key, partition, seen, why)
                continue
            self.running += 1
            task = asyncio.create_task(self._reconcile(key, why, tries), name=f"off-bus reconcile {key}")
            self._running[key] = (task, seen, why)
            try:
                await asyncio.wait({task})  # cut off by `given` (cancelled) or done; either way this worker goes on
            except asyncio.CancelledError:
                task.cancel()  # the worker itself is stopped (shutdown)
                raise
            finally:
                self._running.pop(key, None)
                self.running -= 1

    async def _reconcile(self, key: Key, why: str, tries: int) -> None:
        """One reconcile, read afresh. What the bus would retry (the API server away or busy, an old set still
        going) is tried again after its delay, `TRIES` times in all: this news is the only one there may be (a
        deletion while the watcher was down); any other failure is logged (the application's next event acts)."""
        namespace, application = key
        if self.reconciler is None:
            return
        log.info(why, application=f"{namespace}/{application}")
        try:
            await self.reconciler.reconcile(namespace, application, trust_copy=False)
        except (TemporaryError, Later) as exc:
            if tries + 1 < TRIES and not self._closed:
                delay = exc.delay_seconds if exc.delay_seconds is not None else RETRY_SECONDS
                retry = asyncio.create_task(self._retry(delay, key, why, tries + 1), name=f"off-bus retry {key}")
                self._retries.add(retry)
                retry.add_done_callback(self._retries.discard)
            log.info(
                "reconciling on off-bus news failed",
                why=why,
                application=f"{namespace}/{application}",
                error=str(exc)[:300],
                tries=tries + 1,
            )
        except Exception as exc:  # a bug, a refusal: the application's next event or change acts on it
            log.info(
                "reconciling on off-bus news failed",
                why=why,
                application=f"{namespace}/{application}",
                error=str(exc)[:300],
            )

    async def _retry(self, delay: float, key: Key, why: str, tries: int) -> None:
        await asyncio.sleep(delay)
        partition = partition_of(*key, self._partitions)
        if self._ours(partition):
            self._queue(key, self._clock(), why, tries)
        else:
            self._defer(key, partition, self._clock(), why)

    async def close(self) -> None:
        self._closed = True
        self._pending.clear()
        running = [task for task, _, _ in self._running.values()]
        await asyncio.gather(*(cancel_firmly(task) for task in [*self._workers, *self._retries, *running]))
