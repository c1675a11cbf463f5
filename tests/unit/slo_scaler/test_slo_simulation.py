"""Whole sequences: the slo-scaler steering the benchmark's simulator over a small step-shaped load, and the
simulator's own pieces (H100-calibrated step times, vLLM-format scrapes)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest
from autoscaling.scalers import Slo
from autoscaling.sim.engine import SimConfig, SimResult, simulate
from autoscaling.sim.exposition import GroupCounters, render_vllm
from autoscaling.sim.steptime import fit
from autoscaling.sim.trace import Trace
from unit.slo_scaler.builders import spec

from arks_common.api.application import Runtime
from arks_slo_scaler.core.decide import GroupSample, ScalerConfig
from arks_slo_scaler.core.metrics import parse_metrics


def step_load(rates: list[tuple[float, float]], seed: int = 1) -> Trace:
    """Poisson arrivals at `rate` req/s for `seconds`, phase after phase; chat-sized requests (1000 in, 200 out)."""
    rng = np.random.default_rng(seed)
    start, arrivals = 0.0, []
    for rate, seconds in rates:
        n = int(rate * seconds)
        arrivals.append(np.sort(rng.uniform(start, start + seconds, n)))
        start += seconds
    arrival = np.concatenate(arrivals)
    n = len(arrival)
    return Trace(arrival, np.full(n, 1000, dtype=np.int64), np.full(n, 200, dtype=np.int64))


@pytest.fixture(scope="module")
def ramp_result() -> tuple[SimResult, list[tuple[float, str]]]:
    trace = step_load([(8.0, 300.0), (45.0, 600.0), (8.0, 600.0)])
    scaler = Slo(spec(maxReplicas=6), ScalerConfig(initial_capacity_per_group=20.0, target_utilization=0.75))
    log: list[tuple[float, str]] = []
    result = simulate(
        trace,
        scaler,
        fit(),
        SimConfig(initial_replicas=1, render_text=False),
        on_decision=lambda t, m: log.append((t, m)),
    )
    return result, log


def test_a_load_step_scales_up_then_back_down_without_oscillating(
    ramp_result: tuple[SimResult, list[tuple[float, str]]],
) -> None:
    result, log = ramp_result
    directions = [1 if after > before else -1 for _, before, after in result.decisions]
    assert directions, "the step must move the replica count"
    assert directions[0] == 1
    assert directions[-1] == -1
    reversals = sum(1 for a, b in itertools.pairwise(directions) if a != b)
    assert reversals == 1, f"up then down, nothing else: {result.decisions}"
    assert max(after for _, _, after in result.decisions) <= 6
    assert all(not np.isnan(t) for t in result.ttft), "every request is served"
    assert any("LoadAboveCapacity" in m or "SLOBreached" in m for _, m in log)
    assert any("LoadDecreased" in m for _, m in log)


def test_scaling_down_waits_a_stabilization_window_after_the_last_scale_up(
    ramp_result: tuple[SimResult, list[tuple[float, str]]],
) -> None:
    result, _ = ramp_result
    last_up = max(t for t, before, after in result.decisions if after > before)
    first_down = min(t for t, before, after in result.decisions if after < before)
    assert first_down - last_up >= 300.0  # the spec's scaleDownStabilizationSeconds
    assert result.decisions[-1][2] == 1  # back to one group once the load is low again


def test_step_times_are_fitted_to_the_h100_calibration() -> None:
    model = fit()
    assert model.decode_rel_error < 0.05
    assert model.prefill_rel_error < 0.15
    assert model.decode_ms(1, 512) == pytest.approx(6.573, rel=0.05)  # measured: B=1, L=512
    assert model.prefill_ms(2048) == pytest.approx(50.91, rel=0.15)  # measured: 2048 new tokens
    assert "h100-llama8b-steptime.json" in model.describe()


def test_simulated_scrapes_are_real_vllm_text_that_parses_cleanly() -> None:
    counters = GroupCounters.empty()
    counters.observe_ttft(0.3)
    counters.observe_itl(0.02, 50)
    counters.prompt_tokens, counters.generation_tokens = 1000.0, 51.0
    text = render_vllm(counters, running=3, waiting=1, kv_usage=0.1)
    assert "# TYPE vllm:time_to_first_token_seconds histogram" in text
    assert 'le="+Inf"' in text
    result = parse_metrics(text, Runtime.VLLM)
    assert result.problems == ()
    assert result.snapshot == counters.snapshot(running=3, waiting=1, kv_usage=0.1)


def test_every_simulated_group_tells_the_cold_start_it_took() -> None:
    """Groups warm from the start took a cold start once too, as the pods a fresh scaler meets in a cluster did."""
    seen: list[tuple[str, float | None]] = []
    planned: list[tuple[float, ...]] = []

    class Watching(Slo):
        def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
            seen.extend((g.group, g.start_seconds) for g in groups if g.ready_seconds is not None)
            out = super().tick(now, current, groups)
            planned.append(self.state.starts.observed)
            return out

    trace = step_load([(8.0, 120.0), (60.0, 600.0)])
    scaler = Watching(spec(maxReplicas=6), ScalerConfig(initial_capacity_per_group=20.0))
    simulate(trace, scaler, fit(), SimConfig(initial_replicas=1, cold_start_s=200.0, render_text=False))
    assert {g for g, _ in seen} >= {"g0", "g1"}, "a group was added and served"
    assert {start for _, start in seen} == {200.0}
    assert planned[0] == (200.0,), "from its first tick the scaler knows the start its group took"
