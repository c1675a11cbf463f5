"""The simulator's PD mode (bench/autoscaling/pd.py): a decode pool computes no prompt, a prefill pool answers with
the first token, and the two in series give an end-to-end TTFT of prefill + KV transfer + the wait at decode."""

from __future__ import annotations

import numpy as np
from autoscaling.pd import PdResult, RoleScaler, Sized, compare, play, role_spec, timeline
from autoscaling.scalers import Fixed
from autoscaling.sim.engine import SimConfig, simulate
from autoscaling.sim.steptime import fit
from autoscaling.sim.trace import Trace


def steady(n: int = 200, rate: float = 4.0, prompt: int = 2000, output: int = 50) -> Trace:
    arrival = np.arange(n, dtype=np.float64) / rate
    return Trace(arrival, np.full(n, prompt, dtype=np.int64), np.full(n, output, dtype=np.int64))


def test_a_decode_only_group_skips_the_prompt_and_decodes_at_once() -> None:
    trace = steady()
    model = fit()
    config = SimConfig(render_text=False)
    aggregated = simulate(trace, Fixed(1, "x"), model, config)
    decode = simulate(trace, Fixed(1, "x"), model, SimConfig(render_text=False, decode_only=True))
    assert float(np.nanmax(decode.ttft)) < 0.01  # a seat and KV are free: admitted at the next step boundary
    assert float(np.nanmedian(aggregated.ttft)) > 0.03  # the aggregated group computes 2000 prompt tokens first
    assert float(np.nanmedian(decode.tpot)) < float(np.nanmedian(aggregated.tpot))  # no prompt chunks in its steps
    assert not np.isnan(decode.tpot).any()


def test_pd_in_series_adds_prefill_transfer_and_decode() -> None:
    trace = steady()
    prefill, decode, result = play(trace, Fixed(1, "p"), Fixed(1, "d"), (1, 1), 0.0, kv_gbps=50.0)
    # 2000 tokens x 128 KiB at 50 GB/s: 5.2 ms on top of the prefill's TTFT
    assert result.ttft_p90 >= float(np.nanpercentile(prefill.ttft, 90)) + 0.005
    assert result.attainment == 1.0
    assert result.gpu_hours > 0
    assert decode.decisions == []


def test_each_role_scaler_sees_only_its_signals_and_its_slo() -> None:
    prefill, decode = RoleScaler("prefill", role_spec("prefill", 4)), RoleScaler("decode", role_spec("decode", 4))
    assert prefill.inner.spec.slo.inter_token_latency is None
    assert decode.inner.spec.slo.time_to_first_token is None
    assert (prefill.name, decode.name) == ("arks-slo prefill", "arks-slo decode")


def test_a_timeline_shows_each_minute_and_each_roles_decisions() -> None:
    trace = steady(n=600, rate=4.0)  # 150 s of a steady load
    prefill, decode = RoleScaler("prefill", role_spec("prefill", 4)), RoleScaler("decode", role_spec("decode", 4))
    p, d, result = play(trace, prefill, decode, (1, 1), 60.0, kv_gbps=50.0)
    assert len(prefill.log) == len(p.timeline)  # one entry per tick
    assert len(decode.log) == len(d.timeline)
    assert prefill.log[0][:4] == (15.0, 1, 1, "NoMetrics")
    lines = timeline(trace, p, d, (prefill, decode), 50.0)
    assert lines[0].startswith("| minute | requests | in the SLO | prefill > 400 ms | decode wait > 100 ms |")
    assert lines[2] == "| 0 | 240 | 100.0% | 0.0% | 0.0% | 0.0% | 1/1 | 1/1 |"
    assert "arks-slo prefill:" in lines
    assert "arks-slo decode:" in lines
    assert "- 15 s, 1 → 1, NoMetrics: only one scrape so far from 1 group(s), need two for rates: hold at 1" in lines
    assert result.attainment == 1.0


def test_a_fleet_is_sized_per_role_from_its_load_tested_capacity() -> None:
    sized = Sized(prefill_rps=26.6, decode_rps=51.7)
    assert sized.at(130.0) == (5, 3)  # ceil(130 / 26.6), ceil(130 / 51.7)
    assert sized.at(1.0) == (1, 1)


def _pd(name: str, attainment: float, gpu_hours: float) -> PdResult:
    return PdResult(name, attainment, gpu_hours, gpu_hours / 2, gpu_hours / 2, 0.1, 0.01, 0, (1, 1))


def test_the_comparison_says_who_holds_the_slo_and_at_what_cost() -> None:
    peak = _pd("fixed", 0.9998, 7.80)
    assert compare(_pd("ours", 0.9999, 6.46), peak, "p").endswith("holds the SLO, 17% fewer GPU-hours")
    assert "**loses** attainment (96.15%), 9% fewer" in compare(_pd("ours", 0.9615, 7.12), peak, "p")
    short = _pd("fixed", 0.5522, 8.78)
    assert "neither holds the SLO, ours higher (86.04%), 48% more" in compare(_pd("ours", 0.8604, 13.0), short, "p")
    assert "ours **lower**" in compare(_pd("ours", 0.50, 8.0), short, "p")
    assert "ours holds the SLO (99.50%), the pair does not" in compare(_pd("ours", 0.995, 9.0), short, "p")
    assert "ours equal (55.22%)" in compare(_pd("ours", 0.5522, 9.0), short, "p")


def test_after_a_warm_up_only_what_follows_is_counted() -> None:
    trace = steady()  # 50 s of requests
    _, _, whole = play(trace, Fixed(1, "p"), Fixed(1, "d"), (1, 1), 0.0, kv_gbps=50.0)
    _, _, later = play(trace, Fixed(1, "p"), Fixed(1, "d"), (1, 1), 0.0, kv_gbps=50.0, measured_from=20.0)
    assert abs((whole.gpu_hours - later.gpu_hours) * 3600 - 2 * 20.0) < 1e-6  # two groups' first 20 s
    assert later.attainment == whole.attainment == 1.0
