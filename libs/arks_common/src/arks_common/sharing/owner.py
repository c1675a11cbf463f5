"""The thin shell around `share.plan_moves`: reads a service's Leases, writes its moves, runs each owned partition.

A partition's consumers run only while this replica holds it, and stop before anyone else may take it: the
partitions a replica holds are good while its membership Lease is, and each renewal of that Lease holds them for
four fifths of its duration from the moment the write was sent (the margin, as `kube.leader` keeps); consuming
stops a little before that unless a later renewal extended it, and is cut off at that instant. Another replica's
membership counts as run out only once this one has read it unchanged for the lease's duration, both counted on
this replica's monotonic clock (`share.observe`): the wall clocks of the replicas never meet. A partition given
back is stopped first and released after; on shutdown every Lease is released, so the other replicas take over
at once instead of waiting the Leases out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from arks_common.events.partitions import MAX_PARTITIONS
from arks_common.kube.client import Conflict, Kube, KubeError
from arks_common.kube.leader import identity, lease_view, micro_time
from arks_common.kube.resources import LEASES
from arks_common.sharing.share import LeaseView, free_slot, observe, plan_moves
from arks_common.telemetry.logging import get_logger
from arks_common.telemetry.metrics import PARTITIONS_OWNED

log = get_logger(__name__)

LABEL_SERVICE = "arks.ai/partitions-of"
"""On every Lease of the sharing: the service whose partitions it is about (one list reads them all)."""
LABEL_ROLE = "arks.ai/lease-role"
ROLE_PARTITION = "partition"
ROLE_MEMBER = "member"
MARGIN = 0.8
"""A write holds the Lease for this fraction of its duration, counted from before the write was sent."""
STOP_AHEAD_SECONDS = 1.5
"""Stop fetching this long before the hold ends (one fetch wait, and a little), so a batch rarely has to be cut."""

RunPartition = Callable[[int, asyncio.Event], Coroutine[Any, Any, None]]
"""Consumes one partition until the event is set."""


def partition_lease_name(service: str, partition: int) -> str:
    return f"arks-{service}-partition-{partition}"


MEMBER_SLOTS = MAX_PARTITIONS
"""Membership Leases are slots with fixed names (RBAC can name them); a replica beyond these stands by, as one
beyond P does (it would have no partition to hold)."""


def member_lease_name(service: str, slot: int) -> str:
    return f"arks-{service}-member-{slot}"


class PartitionOwner:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        service: str,
        partitions: int,
        duration_seconds: float,
        run_partition: RunPartition,
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._service = service
        self._partitions = partitions
        self._duration = duration_seconds
        self._run_partition = run_partition
        self.me = identity()
        self._held_until = 0.0  # monotonic end of the hold the last membership renewal gave
        self._slot: int | None = None  # the membership slot we hold
        self._members: dict[int, LeaseView] = {}  # the membership Leases by slot, as observed (since when unchanged)
        self._held: dict[int, dict[str, Any]] = {}  # each partition we hold: its Lease as last written
        self._running: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._failure: BaseException | None = None
        self._wake = asyncio.Event()
        self._log = log.bind(service=service, identity=self.me)

    def owned(self) -> tuple[int, ...]:
        """The partitions this replica consumes now."""
        return tuple(sorted(p for p, (task, _) in self._running.items() if not task.done()))

    async def run(self, stop: asyncio.Event) -> None:
        self._log.info("sharing partitions", partitions=self._partitions, lease_seconds=self._duration)
        try:
            while not stop.is_set():
                try:
                    await self._round()
                except KubeError as exc:
                    self._log.warning("partition round failed; the hold runs out unless renewed", error=str(exc))
                if self._failure is not None:
                    raise self._failure
                PARTITIONS_OWNED.set(len(self.owned()))
                self._wake.clear()
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                try:  # the next round: a third of the duration on, or at once when a partition's consumers broke
                    await asyncio.wait(waits, timeout=self._duration / 3, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
        finally:
            await self._shutdown()

    async def _round(self) -> None:
        asked = time.monotonic()  # the Leases are judged as of then: the list may show them from any time after
        items, _ = await self._kube.list(LEASES, self._namespace, label_selector=f"{LABEL_SERVICE}={self._service}")
        by_name = {str((lease.get("metadata") or {}).get("name", "")): lease for lease in items}
        read_at = time.monotonic()  # a Lease first read so counts as renewed then (it may have been, just before)
        slots = {member_lease_name(self._service, s): s for s in range(MEMBER_SLOTS)}
        read = {slots[n]: lease_view(lease, read_at) for n, lease in by_name.items() if n in slots}
        members = {slot: observe(self._members.get(slot), view) for slot, view in read.items()}
        self._members = members
        names = {partition_lease_name(self._service, p): p for p in range(self._partitions)}
        partition_leases = {names[n]: lease for n, lease in by_name.items() if n in names}
        holders = {p: (lease.get("spec") or {}).get("holderIdentity") for p, lease in partition_leases.items()}
        for p in list(self._held):
            if holders.get(p) != self.me:  # taken while our membership had run out: stop at once
                self._log.warning("partition lost to another replica", partition=p, holder=holders.get(p))
                del self._held[p]
                await self._stop(p)
        slot = free_slot(self.me, MEMBER_SLOTS, members, asked)
        if slot is None:
            self._log.info("every membership slot is held: standing by", slots=MEMBER_SLOTS)
            return
        sent = time.monotonic()
        lapsed = sent >= self._held_until  # our membership ran out: others may take our partitions meanwhile
        try:
            name = member_lease_name(self._service, slot)
            await self._write(name, ROLE_MEMBER, by_name.get(name))
        except Conflict:  # another newcomer took the slot first: try another next round
            return
        # answered after our last hold ran out (four fifths of a lease after the last renewal was sent), it may have
        # landed after another replica read our membership unchanged for the whole lease by its own clock, which may
        # run faster than ours (the fifth is that margin), and took our partitions: as lapsed, take them again by a
        # compare-and-set on them as read (our consumers were cut off at that moment anyway)
        lapsed = lapsed or time.monotonic() >= self._held_until
        self._held_until = sent + self._duration * MARGIN  # every partition we hold is good until then
        self._slot = slot
        moves = plan_moves(self.me, self._partitions, holders, members, asked)
        await asyncio.gather(*(self._give(p, partition_leases.get(p)) for p in moves.give))
        take = list(moves.take)
        for p in moves.keep:
            if lapsed:
                # the Leases we read may be taken since by a replica that saw our membership expired: taken again
                # by a compare-and-set on them as read, so a change since is a Conflict and the partition is theirs
                await self._stop(p)
                self._held.pop(p, None)
                take.append(p)
            else:
                self._held[p] = partition_leases[p]
        await asyncio.gather(*(self._take(p, partition_leases.get(p)) for p in take))
        for p in self._held:
            running = self._running.get(p)
            if running is None or running[0].done():
                self._start(p)

    async def _give(self, partition: int, lease: dict[str, Any] | None) -> None:
        await self._stop(partition)
        self._held.pop(partition, None)
        await self._release(lease)
        self._log.info("partition given back", partition=partition)

    async def _take(self, partition: int, lease: dict[str, Any] | None) -> None:
        try:
            written = await self._write(partition_lease_name(self._service, partition), ROLE_PARTITION, lease)
        except Conflict:  # another replica took it first
            return
        except KubeError as exc:
            self._log.warning("partition lease write failed", partition=partition, error=str(exc))
            return
        self._held[partition] = written
        self._log.info("partition taken", partition=partition)

    async def _write(self, name: str, role: str, lease: dict[str, Any] | None) -> dict[str, Any]:
        """Creates the Lease, or replaces it as read (its resourceVersion: a concurrent change is a Conflict). Its
        times are this machine's wall clock, for people reading the Lease: no replica's rule reads them."""
        now = datetime.now(UTC)
        spec: dict[str, Any] = {
            "holderIdentity": self.me,
            "leaseDurationSeconds": max(1, round(self._duration)),
            "renewTime": micro_time(now),
        }
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": name,
                    "namespace": self._namespace,
                    "labels": {LABEL_SERVICE: self._service, LABEL_ROLE: role},
                },
                "spec": spec | {"acquireTime": micro_time(now), "leaseTransitions": 0},
            }
            return await self._kube.create(LEASES, self._namespace, body)
        old = lease.get("spec") or {}
        if old.get("holderIdentity") == self.me:
            spec |= {k: old[k] for k in ("acquireTime", "leaseTransitions") if k in old}
        else:
            spec |= {"acquireTime": micro_time(now), "leaseTransitions": int(old.get("leaseTransitions") or 0) + 1}
        return await self._kube.replace(LEASES, {**lease, "spec": spec})

    def _start(self, partition: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(self._guarded(partition, stop), name=f"partition {partition}")
        self._running[partition] = (task, stop)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
            self._wake.set()

    async def _guarded(self, partition: int, stop: asyncio.Event) -> None:
        """Runs the partition's consumers while the hold lasts: asks them to stop just before it ends, and cuts
        them off when it ends (their unsettled messages are redelivered to the next holder)."""
        inner = asyncio.create_task(self._run_partition(partition, stop), name=f"partition {partition} consumers")
        try:
            while not inner.done():
                left = self._held_until - time.monotonic()
                if left <= STOP_AHEAD_SECONDS:
                    stop.set()
                if left <= 0:
                    self._log.warning("partition hold ran out before a renewal; consuming cut off", partition=partition)
                    inner.cancel()
                    break
                await asyncio.wait({inner}, timeout=min(0.5, max(0.05, left - STOP_AHEAD_SECONDS)))
        finally:
            if not inner.done():
                inner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inner

    async def _stop(self, partition: int) -> None:
        running = self._running.pop(partition, None)
        if running is None:
            return
        task, stop = running
        stop.set()
        await asyncio.wait({task})
        PARTITIONS_OWNED.set(len(self.owned()))

    async def _release(self, lease: dict[str, Any] | None) -> None:
        """Hands a partition over at once (no holder) instead of making the next replica wait our membership out."""
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.me:
            return
        with contextlib.suppress(KubeError):
            await self._kube.replace(LEASES, {**lease, "spec": {**lease["spec"], "holderIdentity": None}})

    async def _shutdown(self) -> None:
        await asyncio.gather(*(self._stop(p) for p in list(self._running)))
        for p in list(self._held):
            await self._release(self._held.pop(p))
        if self._slot is not None:
            with contextlib.suppress(KubeError):
                member = await self._kube.get(LEASES, self._namespace, member_lease_name(self._service, self._slot))
                await self._release(member)
        PARTITIONS_OWNED.set(0)
        self._log.info("partitions released")
