"""Per-role SLO autoscaling of PD-separated serving: which roles are scaled, what each is judged on, and that the
shared decision, called per role with the role's spec and signals, moves only the role whose signal breaks."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from unit.slo_scaler.builders import Leader, group, snapshot

from arks_common.api import ArksApplication
from arks_common.events.payloads import ScaleDirection
from arks_slo_scaler.core.decide import Decision, Observation, Reason, ScalerConfig, ScalerState, decide
from arks_slo_scaler.core.roles import ScaledRole, role_config, role_signals, scaled_roles
from support.builders import sample

BEHAVIOR = {"scaleUpStabilizationSeconds": 0, "scaleDownStabilizationSeconds": 300, "warmupSeconds": 60}
PREFILL = {
    "minReplicas": 1,
    "maxReplicas": 3,
    "slo": {"timeToFirstToken": {"targetMilliseconds": 500, "percentile": 90}},
    "behavior": BEHAVIOR,
}
DECODE = {
    "minReplicas": 2,
    "maxReplicas": 6,
    "slo": {"interTokenLatency": {"targetMilliseconds": 50, "percentile": 50}},
    "behavior": BEHAVIOR,
}


def pd_app(prefill: dict[str, Any] | None = PREFILL, decode: dict[str, Any] | None = DECODE) -> ArksApplication:
    doc = sample("application-sglang-pd.yaml")
    for role, scaling in (("prefill", prefill), ("decode", decode)):
        if scaling is not None:
            doc["spec"][role]["autoscaling"] = copy.deepcopy(scaling)
    return ArksApplication.model_validate(doc)


def test_an_aggregated_application_has_one_scaled_role_at_the_top_of_the_status() -> None:
    doc = sample("application-vllm.yaml")
    doc["spec"]["autoscaling"] = {"maxReplicas": 4, "slo": PREFILL["slo"]}
    roles = scaled_roles(ArksApplication.model_validate(doc).spec)
    assert [(r.name, r.status_key, r.spec.max_replicas) for r in roles] == [("serve", None, 4)]
    assert scaled_roles(ArksApplication.model_validate(sample("application-vllm.yaml")).spec) == []


def test_pd_roles_are_scaled_each_with_its_own_spec_and_the_router_never() -> None:
    app = pd_app()
    assert app.spec.prefill is not None
    assert app.spec.decode is not None
    roles = scaled_roles(app.spec)
    assert [(r.name, r.status_key, r.spec.min_replicas, r.spec.max_replicas) for r in roles] == [
        ("prefill", "prefill", 1, 3),
        ("decode", "decode", 2, 6),
    ]
    assert [r.spec_replicas for r in roles] == [app.spec.prefill.replicas, app.spec.decode.replicas]
    assert [r.name for r in scaled_roles(pd_app(prefill=None).spec)] == ["decode"]
    assert scaled_roles(pd_app(prefill=None, decode=None).spec) == []


def test_each_role_keeps_only_the_signals_it_is_scaled_on() -> None:
    scrape = snapshot(requests=100, ttft_s=2.0, itl_s=0.2, waiting=30, kv=0.97)
    prefill, decode, serve = (role_signals(r, scrape) for r in ("prefill", "decode", "serve"))
    assert (prefill.time_to_first_token, prefill.requests_waiting) == (scrape.time_to_first_token, 30)
    assert (prefill.inter_token_latency, prefill.kv_cache_usage) == (None, None)
    assert (decode.inter_token_latency, decode.kv_cache_usage) == (scrape.inter_token_latency, 0.97)
    assert decode.requests_waiting == 30  # a request waits there for a seat, which nothing else shows
    assert decode.time_to_first_token == scrape.time_to_first_token  # counts the requests; never judged
    assert serve == scrape


def test_only_decode_acts_on_a_supported_rise_after_a_scale_down() -> None:
    # its ITL is flat until its seats run out: the forecast is its only early signal (core/roles.py)
    config = ScalerConfig(initial_capacity_per_group=12.0)
    assert role_config("decode", config) == ScalerConfig(
        initial_capacity_per_group=12.0, supported_rise_undoes_scale_down=True
    )
    assert not role_config("prefill", config).supported_rise_undoes_scale_down
    assert role_config("serve", config) == config


def test_only_prefill_s_exploring_guess_falls_at_once() -> None:
    # its TTFT is flat until a queueing knee: the first rise at the frontier is the knee itself (core/roles.py)
    config = ScalerConfig()
    assert role_config("prefill", config) == ScalerConfig(guess_falls_at_once=True)
    assert not role_config("decode", config).guess_falls_at_once
    assert role_config("serve", config) == config


def _exploring_capacity_at_the_knee(role: str) -> tuple[float | None, float | None]:
    """Three prefill groups without a prior (at their maximum, so nothing starts): the rate per group rises from 10
    to 20 req/s (held for three windows) with a flat p90 TTFT (0.2 of the target), then at 21 req/s a fifth of the
    prompts wait (p90 0.35 of the target once the 30 s window holds only those). The capacity planned with before
    the knee and at it, decided with `role`'s settings."""
    prefill, _ = scaled_roles(pd_app().spec)
    config, state, now = role_config(role, ScalerConfig()), ScalerState(), 0.0
    leaders = [Leader() for _ in range(3)]
    capacities: list[float | None] = []
    ramp = [(10, 0.0), (10, 0.0), (12, 0.0), (14, 0.0), (16, 0.0), (18, 0.0), (20, 0.0), (20, 0.0), (20, 0.0)]
    for rate, waited in (*ramp, (21, 0.2), (21, 0.2)):
        now += 15.0
        samples = []
        for i, leader in enumerate(leaders):
            leader.serve(rate * 15.0 * waited, ttft_s=0.2)  # waited for a batch: past the 0.1 s bucket edge
            scrape = leader.serve(rate * 15.0 * (1 - waited), ttft_s=0.09)  # a prompt's compute alone
            samples.append(group(f"prefill-{i}", at=now, metrics=role_signals("prefill", scrape)))
        decision, state = decide(prefill.spec, Observation(now, 3, tuple(samples)), state, config)
        assert decision.signals is None or decision.signals.capacity_confirmed is False, "still exploring"
        capacities.append(state.capacity_per_group)
    return capacities[-3], capacities[-1]


def test_prefill_s_exploring_capacity_falls_to_what_its_ttft_knee_shows_at_once() -> None:
    before, at_knee = _exploring_capacity_at_the_knee("prefill")
    assert before is not None
    assert before > 33.0, "the flat TTFT guessed far above 20 req/s (up to twice it)"
    # the knee's own guess: 21 req/s x 0.5 / 0.35 = 30, planned at 95% of it, not smoothed in from above
    assert at_knee is not None
    assert round(at_knee, 6) == 28.5
    # an aggregated role smooths it in, and keeps planning above what the knee shows
    _, smoothed = _exploring_capacity_at_the_knee("serve")
    assert smoothed is not None
    assert smoothed > 30.0


@dataclass
class Role:
    """One scaled role's groups, scraped every 15 s, decided with the role's own spec, signals and state."""

    role: ScaledRole
    groups: int
    now: float = 0.0
    state: ScalerState = field(default_factory=ScalerState)
    leaders: dict[str, Leader] = field(default_factory=dict)

    def tick(self, *, ttft_s: float, itl_s: float, waiting: float = 0.0, kv: float = 0.3) -> Decision:
        self.now += 15.0
        samples = []
        for i in range(self.groups):
            leader = self.leaders.setdefault(f"{self.role.name}-{i}", Leader())
            scrape = leader.serve(150.0, ttft_s=ttft_s, itl_s=itl_s, waiting=waiting, kv=kv)
            samples.append(group(f"{self.role.name}-{i}", at=self.now, metrics=role_signals(self.role.name, scrape)))
        observation = Observation(self.now, self.groups, tuple(samples))
        decision, self.state = decide(self.role.spec, observation, self.state)
        self.groups = decision.desired_replicas
        return decision


def roles() -> tuple[Role, Role]:
    prefill, decode = scaled_roles(pd_app().spec)
    return Role(prefill, groups=1), Role(decode, groups=2)


def test_a_ttft_breach_scales_prefill_only() -> None:
    prefill, decode = roles()
    for role in (prefill, decode):
        role.tick(ttft_s=0.1, itl_s=0.02)
    # every server sees long first tokens (requests wait for prefill); inter-token latency is fine
    up, hold = prefill.tick(ttft_s=2.0, itl_s=0.02), decode.tick(ttft_s=2.0, itl_s=0.02)
    assert (up.direction, up.reason) == (ScaleDirection.UP, Reason.SLO_BREACHED)
    assert "p90 TTFT" in up.message
    assert "> target 500 ms" in up.message
    assert (hold.direction, hold.desired_replicas) == (ScaleDirection.HOLD, 2)


def test_an_itl_breach_or_a_full_kv_cache_scales_decode_only() -> None:
    prefill, decode = roles()
    for role in (prefill, decode):
        role.tick(ttft_s=0.1, itl_s=0.02)
    up, hold = decode.tick(ttft_s=0.1, itl_s=0.2), prefill.tick(ttft_s=0.1, itl_s=0.2)
    assert (up.direction, up.reason) == (ScaleDirection.UP, Reason.SLO_BREACHED)
    assert "p50 ITL" in up.message
    assert "> target 50 ms" in up.message
    assert (hold.direction, hold.desired_replicas) == (ScaleDirection.HOLD, 1)
    # a prefill server's full KV cache (prompts on their way to decode) is not prefill's pressure; decode's is
    assert prefill.tick(ttft_s=0.1, itl_s=0.02, kv=0.97).direction is ScaleDirection.HOLD
    assert decode.tick(ttft_s=0.1, itl_s=0.02, kv=0.97).reason is Reason.KV_CACHE_FULL


def test_a_queue_is_pressure_for_either_role() -> None:
    # a decode server out of seats queues requests while its inter-token latency and KV usage look fine
    for role in roles():
        role.tick(ttft_s=0.1, itl_s=0.02)
        assert role.tick(ttft_s=0.1, itl_s=0.02, waiting=40).reason is Reason.QUEUE_BUILDING


def test_each_role_stays_within_its_own_bounds() -> None:
    prefill, decode = roles()
    for _ in range(12):
        prefill.tick(ttft_s=5.0, itl_s=0.5, kv=0.99)
        decode.tick(ttft_s=5.0, itl_s=0.5, kv=0.99)
    assert (prefill.groups, decode.groups) == (3, 6)
    assert prefill.tick(ttft_s=5.0, itl_s=0.5).reason is Reason.AT_MAX_REPLICAS
