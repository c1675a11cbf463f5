"""Leader election on a Kubernetes Lease, for work that exactly one replica must do (the slo-scaler's decisions).

The rule (`next_step`) is pure: create the lease when there is none, renew it while we hold it, take it over once it
is released or this replica has seen it unchanged for the lease's duration by its own monotonic clock (never by
the holder's renewTime: the holder's wall clock may differ from ours), otherwise follow. A replica that just
started counts a Lease as renewed when it first reads it, so it waits a full duration before taking one a dead
holder left. Writes carry the lease's resourceVersion, so two replicas can never both win the same round.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from arks_common.kube.client import Conflict, Kube, KubeError
from arks_common.kube.resources import LEASES
from arks_common.sharing.share import LeaseView, observe
from arks_common.stopping import sleep_unless
from arks_common.telemetry.logging import get_logger

log = get_logger(__name__)


class Step(StrEnum):
    CREATE = "create"
    RENEW = "renew"
    ACQUIRE = "acquire"
    FOLLOW = "follow"


def next_step(view: LeaseView | None, me: str, now: float) -> Step:
    """`view`: the Lease as observed (`share.observe`); `now`: this replica's monotonic time of the read."""
    if view is None:
        return Step.CREATE
    if view.holder == me:
        return Step.RENEW
    if not view.live(now):
        return Step.ACQUIRE
    return Step.FOLLOW


def micro_time(ts: datetime) -> str:
    """A Lease's MicroTime."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_view(lease: dict[str, Any], read_at: float) -> LeaseView:
    """The Lease as read at `read_at` (this replica's monotonic time); `share.observe` keeps an earlier time when the
    Lease has not changed since."""
    spec = lease.get("spec") or {}
    version = (lease.get("metadata") or {}).get("resourceVersion")
    return LeaseView(
        holder=spec.get("holderIdentity"),
        duration_seconds=float(spec.get("leaseDurationSeconds") or 0),
        mark=f"{version}/{spec.get('renewTime')}",
        since=read_at,
    )


def identity() -> str:
    return f"{os.environ.get('HOSTNAME', 'local')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class LeaderElector:
    """Holds `name` in `namespace` while it can; `is_leader()` is True only within a lease it renewed."""

    def __init__(self, kube: Kube, namespace: str, name: str, duration: float = 15.0, retry: float = 2.0) -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._duration = duration
        self._retry = retry
        self.me = identity()
        self._held_until = 0.0  # monotonic deadline of the lease we last wrote
        self._seen: LeaseView | None = None  # the Lease as last read, and since when unchanged

    def is_leader(self) -> bool:
        return time.monotonic() < self._held_until

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._round()
            except KubeError as exc:
                log.warning("leader election round failed", lease=self._name, error=str(exc))
            await sleep_unless(stop, self._retry)
        await self._release()

    async def _round(self) -> None:
        asked = time.monotonic()  # the Lease is judged as of then: the answer may show it from any time after
        lease = await self._kube.get(LEASES, self._namespace, self._name)
        started = time.monotonic()  # a Lease first read counts as renewed then; a hold starts before the write
        self._seen = None if lease is None else observe(self._seen, lease_view(lease, started))
        step = next_step(self._seen, self.me, asked)
        if step is Step.FOLLOW:
            self._held_until = 0.0
            return
        now = datetime.now(UTC)  # the renewTime written: for people reading the Lease, not for the rule
        spec: dict[str, Any] = {
            "holderIdentity": self.me,
            "leaseDurationSeconds": int(self._duration),
            "renewTime": micro_time(now),
        }
        try:
            if lease is None:
                spec |= {"acquireTime": micro_time(now), "leaseTransitions": 0}
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self._name, "namespace": self._namespace},
                    "spec": spec,
                }
                await self._kube.create(LEASES, self._namespace, body)
            else:
                old = lease.get("spec") or {}
                if step is Step.ACQUIRE:
                    spec |= {
                        "acquireTime": micro_time(now),
                        "leaseTransitions": int(old.get("leaseTransitions") or 0) + 1,
                    }
                else:
                    spec |= {k: old[k] for k in ("acquireTime", "leaseTransitions") if k in old}
                await self._kube.replace(LEASES, {**lease, "spec": spec})
        except Conflict:
            self._held_until = 0.0  # someone else wrote first: follow this round
            return
        if step is not Step.RENEW:
            log.info("became leader", lease=self._name, identity=self.me)
        # a margin below the lease's duration: stop acting before anyone else may take over
        self._held_until = started + self._duration * 0.8

    async def _release(self) -> None:
        """On a clean stop, hand over at once instead of making the next leader wait out the lease."""
        if not self.is_leader():
            return
        self._held_until = 0.0
        with contextlib.suppress(KubeError):
            lease = await self._kube.get(LEASES, self._namespace, self._name)
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.me:
                spec = {**lease["spec"], "holderIdentity": None, "renewTime": None}
                await self._kube.replace(LEASES, {**lease, "spec": spec})
