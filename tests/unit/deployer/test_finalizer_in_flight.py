"""A reconcile that holds a new application's phase back leaves its finalizer write in flight: the next reconcile of
that application waits for the same write instead of sending a second, and shutdown cancels what is left. The
API server is a stand-in here (the e2e tests run the real one: tests/e2e/test_requests.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from arks_common.conventions import FINALIZER
from arks_deployer.reconcile import Reconciler


class Applies:
    """Answers server-side applies of the finalizer once `release` is set, with the application as written."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()

    async def apply(self, res: Any, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.sent.append(body["metadata"]["name"])
        await self.release.wait()
        return {**body, "metadata": {**body["metadata"], "uid": "u1", "generation": 1, "resourceVersion": "2"}}


def _app(uid: str = "u1") -> dict[str, Any]:
    meta = {"namespace": "ns", "name": "app", "uid": uid, "generation": 1, "resourceVersion": "1"}
    return {"apiVersion": "arks.ai/v1", "kind": "ArksApplication", "metadata": meta, "spec": {}}


async def test_the_next_reconcile_waits_for_the_write_in_flight_instead_of_a_second() -> None:
    kube = Applies()
    reconciler = Reconciler(kube, None, None)  # type: ignore[arg-type]
    first = reconciler._finalizer_in_flight(_app(), from_event=True)
    again = reconciler._finalizer_in_flight(_app(), from_event=True)
    assert again is first
    fresh = reconciler._finalizer_in_flight(_app(), from_event=False)  # a fresh read: its own write
    assert fresh is not first
    other = reconciler._finalizer_in_flight(_app("u2"), from_event=True)  # created anew under the name
    assert other is not fresh
    kube.release.set()
    written = await first
    assert FINALIZER in written["metadata"]["finalizers"]
    await asyncio.gather(fresh, other, return_exceptions=True)
    assert reconciler._finalizer_in_flight(_app(), from_event=True) is not first  # done: a new one if still needed
    await reconciler.close()


async def test_shutdown_cancels_the_writes_left_in_flight() -> None:
    kube = Applies()
    reconciler = Reconciler(kube, None, None)  # type: ignore[arg-type]
    held = reconciler._finalizer_in_flight(_app(), from_event=True)
    await asyncio.sleep(0)
    assert kube.sent == ["app"]
    await reconciler.close()
    assert held.cancelled()
