"""The autoscaling benchmark's `--warm-up` (bench/autoscaling/run.py): a contender plays a warm-up copy of the
scenario first and is measured only on what follows it (requests, GPU time, decisions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from autoscaling.run import SCENARIOS, Calibration, Job, Sizing, _row, job_trace
from autoscaling.scalers import Fixed
from autoscaling.sim.engine import Scaler, SimConfig, SimResult, simulate
from autoscaling.sim.steptime import fit
from autoscaling.sim.trace import Trace

from arks_slo_scaler.core.decide import GroupSample


def test_gpu_time_is_counted_from_the_measured_part_on() -> None:
    n = 400
    trace = Trace(np.arange(n, dtype=np.float64) / 2.0, np.full(n, 200, np.int64), np.full(n, 20, np.int64))
    model = fit()
    whole = simulate(trace, Fixed(2, "x"), model, SimConfig(initial_replicas=2, render_text=False))
    later = simulate(trace, Fixed(2, "x"), model, SimConfig(initial_replicas=2, render_text=False, measure_from_s=100))
    assert whole.gpu_seconds == 2 * whole.end
    assert later.gpu_seconds == 2 * (later.end - 100)


def test_a_warm_up_copy_comes_first_with_its_own_seed_and_only_what_follows_is_measured() -> None:
    scenario = next(s for s in SCENARIOS if s.name == "spikes")
    job = Job("ours", scenario, 0, 120.0, 30.0, Calibration(20.0, {}), Sizing(100.0, 50.0))
    plain, start = job_trace(job)
    assert start == 0.0
    joined, start = job_trace(Job(**{**job.__dict__, "warm": True}))
    assert start > plain.duration * 0.9  # the warm-up copy is about as long as the scenario itself
    measured = joined.arrival >= start
    assert np.allclose(joined.arrival[measured] - start, plain.arrival)  # the same measured trace, shifted
    assert np.array_equal(joined.prompt[measured], plain.prompt)
    assert not np.allclose(joined.arrival[:1000], plain.arrival[:1000])  # the warm-up is another seed's copy

    # a row counts only the measured part: every warm-up request missed its SLO, every later one met it
    ttft = np.where(joined.arrival >= start, 0.1, 9.0)
    result = SimResult("x", ttft, np.full(len(joined), 0.01), joined.arrival, 3600.0, float(joined.arrival[-1]),
                       [], [(10.0, 4, 8), (start - 100, 8, 4), (start + 5, 4, 6), (start + 700, 6, 5)])  # fmt: skip
    row = _row(job, "x", "ours", result, start, 0.0)
    assert row.attainment == 1.0
    assert row.events == 2  # the two decisions after the warm-up
    # down-up at start + 5 (the warm-up left a scale-down) and up-down later: both reversals are in the measured part
    assert row.reversals == 2
    assert row.flaps == 1  # the first, 105 s after the warm-up's last reversal


class _UpThenDown(Scaler):
    """3 groups from the first tick, 1 from t = 60 s: one group is added before the boundary and two leave after."""

    name = "up-then-down"

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        return 3 if now < 60 else 1


def test_a_group_that_spans_the_boundary_is_paid_after_it_only() -> None:
    n = 400
    trace = Trace(np.arange(n, dtype=np.float64) / 2.0, np.full(n, 200, np.int64), np.full(n, 20, np.int64))
    model = fit()
    config = SimConfig(initial_replicas=2, render_text=False, cold_start_s=10.0)
    whole = simulate(trace, _UpThenDown(), model, config)
    later = simulate(trace, _UpThenDown(), model, replace(config, measure_from_s=40.0))
    assert [(round(t), a, b) for t, a, b in whole.decisions] == [(15, 2, 3), (60, 3, 1)]
    # before t = 40: the two first groups for 40 s each, the third from its creation at the first tick (15 s)
    assert whole.gpu_seconds - later.gpu_seconds == pytest.approx(2 * 40.0 + (40.0 - 15.0))
