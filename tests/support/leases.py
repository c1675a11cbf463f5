"""An in-memory Lease store that honours resourceVersion preconditions as the API server does, one client per
replica (each can be cut off from it), and wall clocks skewed per replica. A stand-in for the unit tests of the
Lease shells (`sharing.owner`, `kube.leader`): what they test is the order of reads and compare-and-set writes,
and which clock the rule reads."""

from __future__ import annotations

import asyncio
import contextvars
import copy
from datetime import datetime, timedelta, tzinfo
from typing import Any

from arks_common.kube.client import Conflict, KubeError


class Store:
    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.rv = 0

    def bump(self) -> str:
        self.rv += 1
        return str(self.rv)


class FakeKube:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.before_member_write: asyncio.Event | None = None  # the next membership write waits for this

    def _check(self) -> None:
        if self.down:
            raise KubeError("API server unreachable")

    async def list(self, res: Any, ns: str, label_selector: str | None = None) -> tuple[list[dict[str, Any]], str]:
        self._check()
        await asyncio.sleep(0)
        return [copy.deepcopy(v) for v in self.store.leases.values()], str(self.store.rv)

    async def get(self, res: Any, ns: str, name: str) -> dict[str, Any] | None:
        self._check()
        await asyncio.sleep(0)
        lease = self.store.leases.get(name)
        return copy.deepcopy(lease) if lease else None

    async def create(self, res: Any, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        name = body["metadata"]["name"]
        if name in self.store.leases:
            raise Conflict("exists", 409)
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = self.store.bump()
        self.store.leases[name] = body
        return copy.deepcopy(body)

    async def replace(self, res: Any, obj: dict[str, Any]) -> dict[str, Any]:
        self._check()
        name = obj["metadata"]["name"]
        if "-member-" in name and self.before_member_write is not None:
            gate, self.before_member_write = self.before_member_write, None
            await gate.wait()
        current = self.store.leases.get(name)
        if current is None or current["metadata"]["resourceVersion"] != obj["metadata"].get("resourceVersion"):
            raise Conflict("conflict", 409)
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self.store.bump()
        self.store.leases[name] = obj
        return copy.deepcopy(obj)


WALL_SKEW: contextvars.ContextVar[float] = contextvars.ContextVar("wall_skew", default=0.0)
"""Seconds this replica's wall clock is ahead of the true time (negative: behind)."""


class SkewedDatetime(datetime):
    """`datetime` whose `now()` reads the wall clock of the replica running (its task's `WALL_SKEW`): patched over a
    shell module's `datetime`, it gives each replica in one process its own wall clock."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> SkewedDatetime:
        real = datetime.now(tz) + timedelta(seconds=WALL_SKEW.get())
        return cls.fromtimestamp(real.timestamp(), tz)


def wall_clock(skew: float) -> contextvars.Context:
    """The context to run a replica's task in (`asyncio.create_task(..., context=...)`): its tasks inherit it."""
    context = contextvars.copy_context()
    context.run(WALL_SKEW.set, skew)
    return context
