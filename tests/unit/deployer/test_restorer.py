"""The deployer's restores (an owned object no event tells of was deleted): one reconcile for an application's
deletions that come together, a bounded number at once, none after shutdown began."""

from __future__ import annotations

import asyncio
from typing import Any

from arks_deployer.app import RESTORES, _Restorer
from support.waiting import eventually


class Reconciles:
    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def reconcile(self, namespace: str, name: str, **_: Any) -> None:
        self.started.append((namespace, name))
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1


async def test_a_namespaces_deletions_are_restored_a_few_at_a_time_once_per_application() -> None:
    reconciles = Reconciles()
    restorer = _Restorer()
    restorer.reconciler = reconciles  # type: ignore[assignment]
    for app in range(10):
        for _ in ("Service", "ServiceAccount", "Role", "RoleBinding"):  # a PD application's objects, all at once
            restorer.gone("ns", f"app-{app}")
    await eventually(lambda: reconciles.running == RESTORES, what="the first restores running")
    reconciles.release.set()
    await eventually(lambda: len(reconciles.started) == 10, what="every application restored")
    await eventually(lambda: reconciles.running == 0, what="the restores done")
    assert sorted(reconciles.started) == sorted({("ns", f"app-{app}") for app in range(10)})
    assert reconciles.most == RESTORES
    await restorer.close()
    restorer.gone("ns", "app-0")  # after shutdown began: nothing starts
    assert not restorer._tasks
