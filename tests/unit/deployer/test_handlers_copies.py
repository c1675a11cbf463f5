"""A message that comes back (a look at an application's pods, a retry) never brings its application's copy back:
the copy is from when the message was first published, and the application may have been deleted since."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arks_common.bus.consumer import Delivery
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, ObjectRef
from arks_deployer.handlers import Handlers


class Reconciles:
    """Stands in for the reconciler and the endpoints' reconciler: records what the handler asks."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def reconcile(
        self, namespace: str, name: str, seen: Any = None, app: Any = None, trust_copy: bool = True
    ) -> None:
        self.calls.append({"app": app, "trust_copy": trust_copy})

    def look_again(self, namespace: str, name: str, carrier: tuple[str, int, int]) -> None:
        return None

    async def namespace_changed(self, namespace: str) -> None:
        return None


def changed(app: dict[str, Any]) -> Envelope:
    ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace="ns", name="chat", uid="u1")
    data = ObjectChanged(ref=ref, resource_version="5", object=app)
    return Envelope(id="object:u1:5", source="watcher", time=datetime.now(UTC), data=data)


async def test_a_message_that_comes_back_reads_the_application_afresh() -> None:
    reconciles = Reconciles()
    handlers = Handlers(reconciles, reconciles)  # type: ignore[arg-type]
    app = {"metadata": {"namespace": "ns", "name": "chat", "uid": "u1", "resourceVersion": "5", "finalizers": ["x"]}}
    subject = "arks.objects.arksapplication.ns.chat"
    await handlers.on_event(changed(app), Delivery(subject, 1, 7, {}))
    assert reconciles.calls[-1] == {"app": app, "trust_copy": True}  # first delivery: the event's copy is the newest
    await handlers.on_event(changed(app), Delivery(subject, 2, 7, {}))
    # delivered again seconds later: its copy (finalizer on, no deletionTimestamp) may be of a deleted application,
    # whose plan the reconcile would apply again; the reconcile takes the newest copy it holds, or reads it
    assert reconciles.calls[-1]["app"] is None
