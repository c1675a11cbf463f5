"""Sizing rules: the planned share of capacity follows the forecast's measured error, and a backlog is sized as it
drains in reality (it stays in the groups it was dispatched to; new groups take only new arrivals)."""

from __future__ import annotations

import pytest
from unit.slo_scaler.builders import spec
from unit.slo_scaler.test_slo_decide import Fleet

from arks_slo_scaler.core.decide import ScalerConfig
from arks_slo_scaler.core.sizing import backlog_step, planned_utilization


def _plan(room: float, samples: int, *, confirmed: bool = True) -> float:
    return planned_utilization(
        room, samples, confirmed=confirmed, target_utilization=0.9, max_utilization=0.97, min_samples=20
    )


def test_the_plan_moves_closer_to_capacity_only_once_the_forecast_error_is_measured_small() -> None:
    assert _plan(1.0, 5) == 0.9  # too few samples to know the error: the configured target
    assert _plan(1.02, 20) == 0.97  # a smooth load: close to capacity, at most the cap
    assert _plan(1.05, 40) == pytest.approx(1 / 1.05)  # a small measured error: just that much below
    assert _plan(1.5, 40) == pytest.approx(1 / 1.5)  # a bursty load: further away
    assert _plan(1.5, 5) == pytest.approx(1 / 1.5)  # a headroom already measured never plans closer
    assert _plan(1.02, 40, confirmed=False) == 0.9  # an exploring capacity is a guess: the configured margin


def _step(arrivals: float, waiting: float, groups: int = 4) -> tuple[int, float, int]:
    s = backlog_step(
        arrivals=arrivals,
        waiting=waiting,
        serving_groups=groups,
        per_group=10.0,
        plan_u=0.9,
        lead_seconds=120.0,
        drain_seconds=60.0,
    )
    return s.groups, s.backlog_then, s.held


def test_a_backlog_that_drains_before_new_groups_serve_holds_no_group() -> None:
    # 4 groups serve 40 req/s, 30 arrive: the 300 waiting drain in 30 s, long before a new group serves
    assert _step(30.0, 300.0) == (4, 0.0, 0)


def test_a_backlog_still_there_when_new_groups_serve_keeps_its_groups_and_new_ones_carry_the_arrivals() -> None:
    # 100 req/s on 4 groups of 10: 1200 waiting + 60 req/s more for 120 s = 8400 when new groups serve; the 4 old
    # groups are busy with it (8400 / (4 x 10) = 210 s), so 100 / (10 x 0.9) = 12 groups carry the arrivals
    assert _step(100.0, 1200.0) == (16, 8400.0, 4)
    # a small backlog left then occupies only the groups needed to serve it within the drain time
    groups, backlog, held = _step(38.0, 900.0)  # 900 - 2 x 120 = 660 left: 660 / (10 x 60) -> 2 groups
    assert (groups, round(backlog), held) == (2 + 5, 660, 2)


def test_a_backlog_step_refuses_a_zero_capacity() -> None:
    with pytest.raises(ValueError, match="per_group"):
        backlog_step(arrivals=1, waiting=1, serving_groups=1, per_group=0, plan_u=0.9, lead_seconds=1, drain_seconds=1)


def test_a_smooth_load_on_a_known_capacity_is_planned_closer_to_it_once_its_error_is_measured() -> None:
    config = ScalerConfig(initial_capacity_per_group=10, max_utilization=0.97)  # the default 0.9 leaves it off
    fleet = Fleet(spec(scaleUpStabilizationSeconds=0, scaleDownStabilizationSeconds=60), groups=5, config=config)
    sizes = []
    for _ in range(40):  # 38.5 req/s, flat: the forecast's error is nil
        decision = fleet.tick(ttft_s=0.1, rate=38.5 / fleet.groups)
        sizes.append(fleet.groups)
    # first at 90% (the plan before the error is known) and 95% (the scale-down threshold): 38.5 / 9.5 -> 5 groups;
    # after 20 samples at 97%: 38.5 / 9.7 -> 4, and 4 x 10 at the scale-up threshold (now 100%) carries it
    assert sizes[:20] == [5] * 20
    assert 4 in sizes[20:]
    assert decision.signals is not None
