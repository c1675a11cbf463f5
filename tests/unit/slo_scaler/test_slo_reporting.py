"""What the slo-scaler's shell reports: a decision the status did not take is written again, and a deleted
application's series go with it, its PD roles' too. The shell's client and Event recorder are stand-ins here
(the status write's refusal is the point); tests/e2e/test_autoscaling.py runs it against a real API server."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from prometheus_client import REGISTRY
from unit.slo_scaler.builders import spec

from arks_common.events.payloads import ScaleDirection
from arks_common.kube.client import KubeError
from arks_slo_scaler.core.decide import Decision, Reason, ScalerConfig, ScalerState
from arks_slo_scaler.core.roles import ScaledRole
from arks_slo_scaler.metrics import export_application, forget_all
from arks_slo_scaler.scaling import SloScaler, Tracked


class RefusesOnce:
    """A status endpoint that refuses the first write (an etcd leader change, say) and takes the next ones."""

    def __init__(self) -> None:
        self.calls = 0
        self.written: list[dict[str, Any]] = []

    async def apply_status(self, resource: Any, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise KubeError("etcdserver: leader changed", status=500)
        self.written.append(status)
        return {}


class Recorder:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def record(self, obj: Any, type_: str, reason: str, message: str) -> None:
        self.reasons.append(reason)


def _scaler(kube: Any = None, events: Any = None) -> SloScaler:
    return SloScaler(kube, None, None, events, 15.0, ScalerConfig(), lambda: True)  # type: ignore[arg-type]


def test_a_decision_whose_status_write_failed_is_written_on_the_next_tick() -> None:
    kube, events = RefusesOnce(), Recorder()
    scaler, tracked = _scaler(kube, events), Tracked("ns", "chat")
    raw = {"metadata": {"namespace": "ns", "name": "chat", "uid": "u1"}, "status": {}}
    at_max = Decision(2, 2, ScaleDirection.HOLD, Reason.AT_MAX_REPLICAS, "p90 TTFT 900 ms > 500 ms: at maxReplicas")
    serve = [(ScaledRole("serve", spec(), 2, 1), at_max)]

    async def two_ticks() -> None:
        with contextlib.suppress(KubeError):  # the tick logs it and goes on with the next application
            await scaler._report(tracked, raw, serve, [role for role, _ in serve])
        await scaler._report(tracked, raw, serve, [role for role, _ in serve])  # the same; the status still lacks it

    asyncio.run(two_ticks())
    assert kube.calls == 2
    assert [s["autoscaling"]["lastDecision"]["reason"] for s in kube.written] == ["AtMaxReplicas"]
    assert events.reasons == ["ScaleHold"]


def _series(application: str) -> list[str]:
    return [
        sample.name
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("application") == application and sample.name.startswith("arks_application_")
    ]


def test_a_deleted_pd_application_takes_its_roles_series_with_it() -> None:
    forget_all()
    scaler = _scaler()
    pd = {"prefill": {"autoscaling": {"maxReplicas": 4}}, "decode": {"autoscaling": {"maxReplicas": 4}}}
    app = {"metadata": {"namespace": "ns", "name": "chat"}, "spec": pd}
    scaler.application_changed("ns", "chat", app, deleted=False)
    for role in ("prefill", "decode"):  # a PD role's series are named after its LeaderWorkerSet, as the tick does
        export_application("ns", f"chat-{role}", spec(), desired=3, current=2, ready=2)
    assert _series("chat-prefill")
    assert _series("chat-decode")
    scaler.application_changed("ns", "chat", app, deleted=True)
    assert (_series("chat-prefill"), _series("chat-decode")) == ([], [])


def test_a_replica_that_takes_the_lead_again_starts_every_application_afresh() -> None:
    scaler = _scaler()
    scaler.application_changed("ns", "chat", {"metadata": {}, "spec": {"autoscaling": {"maxReplicas": 4}}}, False)
    [tracked] = scaler._apps.values()
    assert scaler._leadership(True)
    tracked.states["serve"] = ScalerState(pressure_since=100.0)  # a breach it was timing when it lost the lead
    tracked.last["serve"] = (3, "Up", "SLOBreached")
    assert scaler._leadership(True)  # still leading: its memory stands
    assert tracked.states
    assert tracked.last
    assert not scaler._leadership(False)  # another replica decides meanwhile ...
    assert scaler._leadership(True)  # ... and this one leads again: what it remembered is older than that
    assert (tracked.states, tracked.last) == ({}, {})
