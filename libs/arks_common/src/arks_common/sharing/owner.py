"""The thin shell around `share.plan_moves`: reads a service's Leases, writes its moves, runs each owned partition.

A partition's consumers run only while this replica holds its Lease, and stop before anyone else may take it: a
write that renewed or acquired the Lease is good for four fifths of its duration from the moment it was sent (the
margin, as `kube.leader` keeps); consuming stops a little before that unless a later write extended it, and is cut
off at that instant. A partition given back is stopped first and released after; on shutdown every Lease is
released, so the other replicas take over at once instead of waiting the Leases out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from arks_common.kube.client import Conflict, Kube, KubeError
from arks_common.kube.leader import identity, lease_view, micro_time
from arks_common.kube.resources import LEASES
from arks_common.sharing.share import LeaseView, plan_moves
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


def member_lease_name(service: str, me: str) -> str:
    return f"arks-{service}-member-{hashlib.sha256(me.encode()).hexdigest()[:10]}"


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
        self._member = member_lease_name(service, self.me)
        self._held_until: dict[int, float] = {}  # monotonic end of each partition's hold
        self._leases: dict[int, dict[str, Any]] = {}  # the newest copy of each Lease we hold (its resourceVersion)
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
                    self._log.warning("partition round failed; holds run out unless renewed", error=str(exc))
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
        items, _ = await self._kube.list(LEASES, self._namespace, label_selector=f"{LABEL_SERVICE}={self._service}")
        owners: dict[int, LeaseView] = {}
        members: dict[str, LeaseView] = {}
        raw: dict[str, dict[str, Any]] = {}
        for lease in items:
            meta = lease.get("metadata") or {}
            name, labels = str(meta.get("name", "")), meta.get("labels") or {}
            raw[name] = lease
            if labels.get(LABEL_ROLE) == ROLE_MEMBER:
                members[name] = lease_view(lease)
            for p in range(self._partitions):
                if name == partition_lease_name(self._service, p):
                    owners[p] = lease_view(lease)
        now = datetime.now(UTC)
        moves = plan_moves(self.me, self._partitions, owners, members, now)
        await self._write(self._member, ROLE_MEMBER, raw.get(self._member), now)  # others count me from now on
        for p in moves.give:
            await self._stop(p)
            await self._release(raw.get(partition_lease_name(self._service, p)))
            self._log.info("partition given back", partition=p)
        renewals = [
            self._hold(p, raw.get(partition_lease_name(self._service, p)), now) for p in moves.keep + moves.take
        ]
        await asyncio.gather(*renewals)
        for name in moves.stale_members:
            with contextlib.suppress(KubeError):
                await self._kube.delete(LEASES, self._namespace, name, uid=(raw[name].get("metadata") or {}).get("uid"))

    async def _hold(self, partition: int, lease: dict[str, Any] | None, now: datetime) -> None:
        """Renews or acquires one partition's Lease; starts its consumers once held, stops them when lost."""
        sent = time.monotonic()
        try:
            written = await self._write(partition_lease_name(self._service, partition), ROLE_PARTITION, lease, now)
        except Conflict:
            if partition in self._held_until:
                self._log.warning("partition lost to another replica", partition=partition)
                self._held_until[partition] = 0.0
                await self._stop(partition)
            return
        except KubeError as exc:  # the hold runs out by itself unless a later round renews it
            self._log.warning("partition lease write failed", partition=partition, error=str(exc))
            return
        self._leases[partition] = written
        if partition not in self._held_until or self._held_until[partition] < sent:
            self._log.info("partition taken", partition=partition)
        self._held_until[partition] = sent + self._duration * MARGIN
        running = self._running.get(partition)
        if running is None or running[0].done():
            self._start(partition)

    async def _write(self, name: str, role: str, lease: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        mine = lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.me
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
        if mine:
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
                left = self._held_until.get(partition, 0.0) - time.monotonic()
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
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task})
        PARTITIONS_OWNED.set(len(self.owned()))

    async def _release(self, lease: dict[str, Any] | None) -> None:
        """Hands a Lease over at once (no holder) instead of making the next replica wait it out."""
        if lease is None:
            return
        name = (lease.get("metadata") or {}).get("name")
        current = next((held for held in self._leases.values() if held["metadata"]["name"] == name), lease)
        for p, held in list(self._leases.items()):
            if held is current:
                del self._leases[p]
                self._held_until.pop(p, None)
        if (current.get("spec") or {}).get("holderIdentity") != self.me:
            return
        with contextlib.suppress(KubeError):
            await self._kube.replace(LEASES, {**current, "spec": {**current["spec"], "holderIdentity": None}})

    async def _shutdown(self) -> None:
        await asyncio.gather(*(self._stop(p) for p in list(self._running)))
        for lease in list(self._leases.values()):
            await self._release(lease)
        with contextlib.suppress(KubeError):
            await self._kube.delete(LEASES, self._namespace, self._member)
        PARTITIONS_OWNED.set(0)
        self._log.info("partitions released")
