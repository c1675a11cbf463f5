"""What the slo-scaler's shell writes to `status.autoscaling`, the decision's durable home (the deployer applies
its `desiredReplicas`): a decision the deployer has not applied yet is kept, not written back; a bus that refuses a
message loses no decision; a decision goes with the autoscaling it was made for."""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import pytest
from nats.js.errors import APIError
from prometheus_client import REGISTRY
from unit.slo_scaler.shell import BREACHED, Cluster, application, shell, track

from arks_common.kube.client import Undecodable
from arks_common.kube.decoding import stub
from arks_common.kube.resources import APPLICATIONS, Resource
from arks_slo_scaler.core.decide import ScalerConfig
from support.builders import sample


async def test_a_scale_up_the_deployer_has_not_applied_yet_is_not_written_back() -> None:
    # the deployer is away (restarting, behind on its queue): its LeaderWorkerSet stays at 2 groups. Each Hold wrote
    # the set's count back into desiredReplicas, reversing the scale-up in the field the deployer applies: the
    # status flipped 2, 3, 2, 3 with an Event per tick
    s = shell()
    s.cluster.add(application(), groups=2)
    track(s)
    desired = []
    for _ in range(8):
        await s.ticks(1, bucket=BREACHED)  # every TTFT 1 s, over the 500 ms target
        desired.append(s.cluster.autoscaling().get("desiredReplicas"))
    assert desired == [2, 2, 2, 3, 3, 3, 3, 3]
    assert [reason for _, reason, _ in s.events.recorded].count("ScaleUp") == 1
    assert "ScaleDown" not in [reason for _, reason, _ in s.events.recorded]
    assert s.cluster.autoscaling()["lastDecision"]["message"].endswith(
        "1 group(s) still starting (1 without a pod yet): hold at 3"
    )


def _failures(channel: str, error: str) -> float:
    labels = {"channel": channel, "error": error}
    return REGISTRY.get_sample_value("arks_slo_scaler_publish_failures_total", labels) or 0.0


@pytest.mark.parametrize(
    ("refused", "error"),
    [
        pytest.param(
            "arks.metrics.",
            APIError(code=503, description="insufficient resources", err_code=10023),
            id="the metrics stream is full",
        ),
        pytest.param(
            "arks.scale.",
            APIError(code=503, description="maximum messages exceeded", err_code=10077),
            id="the scale stream refuses",
        ),
        pytest.param("arks.scale.", nats.errors.TimeoutError(), id="a scale message times out"),
    ],
)
async def test_a_bus_that_refuses_a_message_loses_no_decision(refused: str, error: Exception) -> None:
    # a refused metrics sample broke every application's tick while the stream was full; a refused scale message,
    # published before the status write, kept every decision from its durable home
    s = shell()
    s.bus.refuse = lambda subject: error if subject.startswith(refused) else None
    s.cluster.add(application(), groups=2)
    track(s)
    channel = "metrics" if refused == "arks.metrics." else "scale"
    before = _failures(channel, type(error).__name__)
    await s.ticks(6, bucket=BREACHED)
    assert s.cluster.autoscaling()["desiredReplicas"] == 3
    assert "ScaleUp" in [reason for _, reason, _ in s.events.recorded]
    assert _failures(channel, type(error).__name__) > before


async def test_removing_autoscaling_clears_the_scalers_status() -> None:
    # the old decision stayed: desiredReplicas described nothing, and the deployer, which applies it as the first
    # decision, ran the old count again the moment autoscaling was switched back on (weeks later)
    s = shell()
    s.cluster.add(application(), groups=2)
    track(s)
    await s.ticks(4, bucket=BREACHED)
    assert s.cluster.autoscaling()["desiredReplicas"] == 3
    del s.cluster.apps[("ns", "chat")]["spec"]["autoscaling"]  # spec.replicas governs again
    track(s)  # its event
    await s.ticks(1)
    assert "autoscaling" not in s.cluster.apps[("ns", "chat")]["status"]
    assert s.cluster.status_writes[-1] == ("chat", {})  # an empty apply: this manager's fields go
    assert ("ns", "chat") not in s.scaler._apps
    writes = len(s.cluster.status_writes)
    await s.ticks(1)
    assert len(s.cluster.status_writes) == writes  # cleared once, then forgotten


async def test_a_leader_that_lists_an_application_whose_decision_outlived_its_autoscaling_clears_it() -> None:
    # the removal's event reached a follower, or came while no scaler ran
    s = shell()
    app = application()
    del app["spec"]["autoscaling"]
    decision = {"desiredReplicas": 5, "direction": "Up", "reason": "SLOBreached", "message": "…: 2 → 5 groups"}
    app["status"] = {"autoscaling": {"desiredReplicas": 5, "lastDecision": decision}}
    s.cluster.add(app, groups=2)
    assert await s.scaler._discover()
    await s.scaler._round(asyncio.get_running_loop().time() + 5.0)
    assert "autoscaling" not in s.cluster.apps[("ns", "chat")]["status"]


async def test_a_role_whose_autoscaling_was_removed_leaves_the_status() -> None:
    s = shell()
    app = sample("application-sglang-pd.yaml")
    app["metadata"].update(namespace="ns", uid="u1")
    for role, target in (("prefill", "timeToFirstToken"), ("decode", "interTokenLatency")):
        app["spec"][role]["autoscaling"] = {"maxReplicas": 4, "slo": {target: {"targetMilliseconds": 500}}}
    name = app["metadata"]["name"]
    s.cluster.apps[("ns", name)] = app
    s.cluster.sets.update(
        {("ns", f"{name}-prefill"): {"spec": {"replicas": 1}}, ("ns", f"{name}-decode"): {"spec": {"replicas": 1}}}
    )
    track(s, name)
    await s.ticks(1, name=name)
    assert set(s.cluster.autoscaling(name)) == {"prefill", "decode"}
    del app["spec"]["decode"]["autoscaling"]
    await s.ticks(1, name=name)
    assert set(s.cluster.autoscaling(name)) == {"prefill"}


async def test_a_role_without_its_leaderworkerset_for_a_tick_keeps_its_decision() -> None:
    # the decode set is gone for a moment (deleted by hand; the deployer makes it again) while prefill's decision
    # changes: the status apply held prefill alone, so server-side apply dropped decode's decision, and the
    # deployer made decode again at spec.decode.replicas, whatever the scaler had decided
    s = shell()
    app = sample("application-sglang-pd.yaml")
    app["metadata"].update(namespace="ns", uid="u1")
    for role, target in (("prefill", "timeToFirstToken"), ("decode", "interTokenLatency")):
        app["spec"][role]["autoscaling"] = {"maxReplicas": 4, "slo": {target: {"targetMilliseconds": 500}}}
    name = app["metadata"]["name"]
    s.cluster.apps[("ns", name)] = app
    s.cluster.sets.update(
        {("ns", f"{name}-prefill"): {"spec": {"replicas": 1}}, ("ns", f"{name}-decode"): {"spec": {"replicas": 3}}}
    )
    app["spec"]["decode"]["autoscaling"]["minReplicas"] = 3  # decode decided at 3
    track(s, name)
    await s.ticks(1, name=name)
    decode = s.cluster.autoscaling(name)["decode"]
    assert decode["desiredReplicas"] == 3
    del s.cluster.sets[("ns", f"{name}-decode")]
    app["spec"]["prefill"]["autoscaling"]["minReplicas"] = 2  # prefill's decision changes meanwhile
    await s.ticks(1, name=name)
    assert s.cluster.autoscaling(name)["prefill"]["desiredReplicas"] == 2
    assert s.cluster.autoscaling(name).get("decode") == decode


async def test_an_application_made_again_under_the_same_name_starts_afresh() -> None:
    # its delete unseen (a watcher that relisted, or a follower's event), the new application inherited the old
    # one's learned capacity, burst memory and scale-down window
    s = shell(config=ScalerConfig(initial_capacity_per_group=10.0))
    s.cluster.add(application(uid="old"), groups=2)
    track(s)
    await s.ticks(5)
    assert len(s.scaler._apps[("ns", "chat")].states["serve"].recommendations) > 1
    s.cluster.add(application(uid="new", replicas=1), groups=1)  # another model, one group
    await s.ticks(1)
    tracked = s.scaler._apps[("ns", "chat")]
    assert tracked.uid == "new"
    assert tracked.states["serve"].recommendations == ((s.clock.t - 15.0, 1),)


def _decision_series(application: str) -> int:
    return sum(
        1
        for family in REGISTRY.collect()
        for sample_ in family.samples
        if sample_.name == "arks_slo_scaler_decisions_total" and sample_.labels.get("application") == application
    )


async def test_a_deleted_applications_decision_counters_go_with_it() -> None:
    # every application ever autoscaled kept up to 3 x 16 series in every scrape for the life of the process
    s = shell()
    s.cluster.add(application("ci-1234", uid="u-ci"), groups=2)
    track(s, "ci-1234")
    await s.ticks(4, bucket=BREACHED, name="ci-1234")
    assert _decision_series("ci-1234") >= 2  # NoMetrics, BreachNotSustained, SLOBreached...
    s.scaler.application_changed("ns", "ci-1234", s.cluster.apps[("ns", "ci-1234")], deleted=True)
    assert _decision_series("ci-1234") == 0


async def test_a_replica_that_loses_the_lead_keeps_no_decision_counters() -> None:
    s = shell()
    s.cluster.add(application("led", uid="u-led"), groups=2)
    track(s, "led")
    await s.ticks(2, name="led")
    assert _decision_series("led") >= 1
    s.scaler._leadership(False)
    assert _decision_series("led") == 0


TOO_DEEP = (
    "spec.runtimeOverrides.extraArgs[0]... is nested deeper than 64 levels, more than Arks reads; flatten this field"
)


class DeepApplications(Cluster):
    """An API server whose applications in `deep` are nested too deep to read: a GET raises with their stub."""

    def __init__(self) -> None:
        super().__init__()
        self.deep: set[str] = set()
        self.gets = 0

    async def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        if res is APPLICATIONS:
            self.gets += 1
            if name in self.deep:
                found = self.apps[(namespace, name)]
                raise Undecodable(f"ArksApplication {namespace}/{name}: {TOO_DEEP}", stub(found, TOO_DEEP))
        return await super().get(res, namespace, name)


@pytest.mark.parametrize("autoscaled", [True, False], ids=["autoscaled before", "never autoscaled"])
async def test_an_application_too_deep_to_read_is_said_once_and_then_costs_nothing(autoscaled: bool) -> None:
    # its stub was tracked whatever it asked for, and every round read it again and logged "scaling step failed",
    # for good; a user whose application was autoscaled was not told why it no longer was
    cluster = DeepApplications()
    s = shell(cluster=cluster)
    app = application()
    if autoscaled:
        app["status"] = {"autoscaling": {"desiredReplicas": 3, "lastDecision": {"desiredReplicas": 3}}}
    cluster.add(app, groups=2)
    cluster.deep.add("chat")
    s.scaler.application_changed("ns", "chat", stub(app, TOO_DEEP), deleted=False)  # what its event carries
    deadline = asyncio.get_running_loop().time() + 5.0
    for _ in range(3):
        await s.scaler._round(deadline)
    assert cluster.gets == 1
    assert ("ns", "chat") not in s.scaler._apps
    expected = [
        (
            "Warning",
            "AutoscalingFailed",
            f"No scaling decision until it changes: the application cannot be read: {TOO_DEEP}",
        )
    ]
    assert s.events.recorded == (expected if autoscaled else [])
    assert cluster.status_writes == []
