"""The autoscaling benchmark: every scaler over the same transformed trace, several seeds, one table and one plot.

Run from the repository root: `.venv/bin/python -m bench.autoscaling.run` (`--seeds 5 --copies 12`, `--help`).
Writes `bench/out/autoscaling.md` (the table) and `bench/out/autoscaling.png` (replicas and p90 TTFT over time,
first seed). The simulator's step times come from step times measured on an H100 (shared/calibration/
h100-llama8b-steptime.json); the load from the Azure LLM inference trace (shared/traces/), transformed as
`sim/trace.py` documents.

Fairness: one calibration gives every scaler the same knowledge of a group's capacity. A steady-load sweep (Poisson
arrivals, request sizes drawn from the trace, one group) finds the highest rate at which a group keeps 99% of the
requests within the SLO. From it: fixed-peak = ceil(peak one-minute rate / capacity), fixed-mean = ceil(mean rate /
capacity); the HPA and KPA each run with two targets, the concurrency per group measured at 75% and at 90% of that
rate; ours starts from that capacity, plans for 90% of it (scaling up past 95%), and learns from there. The
autoscalers start at the fixed-mean size.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from arks_common.api.application import AutoscalingSpec
from arks_slo_scaler.core.decide import GroupSample, ScalerConfig

from .scalers import Fixed, Hpa, Kpa, Slo
from .sim.engine import Scaler, SimConfig, SimResult, kv_tokens_per_gpu, simulate
from .sim.steptime import SOURCE, StepTimeModel, fit
from .sim.trace import Trace, load, transform

OUT = Path(__file__).resolve().parents[1] / "out"
# SLO targets on vLLM's real bucket edges: TTFT 0.5 s (vllm:time_to_first_token_seconds has le="0.5"),
# TPOT 0.05 s (vllm:inter_token_latency_seconds has le="0.05").
TTFT_TARGET_S = 0.5
TPOT_TARGET_S = 0.05
MAX_REPLICAS = 16
UTILIZATION = 0.9  # ours sizes groups to this share of the calibrated capacity ...
HIGH_UTILIZATION = 0.95  # ... and scales up before they pass this one
# HPA and KPA get two targets each: the per-group concurrency at these shares of the capacity
BASELINE_POINTS = (0.75, 0.9)


def slo_spec() -> AutoscalingSpec:
    # ITL at the median: with chunked prefill a token's latency is bimodal (decode-only vs prompt-carrying steps),
    # so its tail says little about a request's TPOT (a mean); its median does.
    return AutoscalingSpec.model_validate(
        {
            "minReplicas": 1,
            "maxReplicas": MAX_REPLICAS,
            "slo": {
                "timeToFirstToken": {"targetMilliseconds": TTFT_TARGET_S * 1000, "percentile": 90},
                "interTokenLatency": {"targetMilliseconds": TPOT_TARGET_S * 1000, "percentile": 50},
            },
        }
    )


@dataclass(frozen=True)
class Calibration:
    capacity_rps: float  # per group, within the SLO for 99% of requests
    concurrency_at: dict[float, float]  # per group, at a share of the capacity


@dataclass(frozen=True)
class Sizing:
    peak_rps: float  # highest one-minute rate of the transformed trace (seed 0)
    mean_rps: float

    def fixed_peak(self, cal: Calibration) -> int:
        return math.ceil(self.peak_rps / cal.capacity_rps)

    def fixed_mean(self, cal: Calibration) -> int:
        return math.ceil(self.mean_rps / cal.capacity_rps)


@dataclass(frozen=True)
class Scenario:
    name: str
    copies: int
    swing: float


SCENARIOS = (Scenario("swing", copies=16, swing=0.5), Scenario("plain", copies=12, swing=0.0))


@dataclass(frozen=True)
class Row:
    scenario: str
    scaler: str
    seed: int
    attainment: float
    gpu_hours: float
    events: int
    reversals: int
    flaps: int  # reversals less than 10 minutes after the previous reversal (A -> B -> A: oscillation)
    ttft_p90: float
    tpot_p90: float
    cpu_s: float  # CPU time of this one simulation


class _Recorder(Scaler):
    """Fixed replicas that remember the per-group concurrency the scrapes showed (for the calibration)."""

    def __init__(self) -> None:
        self.name = "recorder"
        self.values: list[float] = []

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        for g in groups:
            m = g.metrics
            if now > 120 and m is not None and m.requests_running is not None:
                self.values.append(m.requests_running + (m.requests_waiting or 0.0))
        return 1


def _steady(base: Trace, rate: float, seed: int, model: StepTimeModel, seconds: float = 600.0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    arrival = np.cumsum(rng.exponential(1.0 / rate, n))
    pick = rng.integers(0, len(base), n)
    trace = Trace(arrival, base.prompt[pick], np.maximum(base.output[pick], 2))
    recorder = _Recorder()
    result = simulate(trace, recorder, model, SimConfig(initial_replicas=1, render_text=False))
    keep = result.arrival > 120.0
    ok = (result.ttft[keep] <= TTFT_TARGET_S) & (result.tpot[keep] <= TPOT_TARGET_S)
    return float(ok.mean()), float(np.mean(recorder.values)) if recorder.values else 0.0


def calibrate(base: Trace, model: StepTimeModel) -> Calibration:
    lo, hi = 1.0, 60.0
    while hi - lo > 0.5:  # bisection on the rate one group sustains with 99% attainment
        mid = (lo + hi) / 2
        attainment, _ = _steady(base, mid, 7, model)
        lo, hi = (mid, hi) if attainment >= 0.99 else (lo, mid)
    capacity = lo
    concurrency = {point: _steady(base, point * capacity, 7, model)[1] for point in BASELINE_POINTS}
    return Calibration(capacity, concurrency)


def size(trace: Trace) -> Sizing:
    per_minute = np.bincount((trace.arrival // 60).astype(int)) / 60.0
    return Sizing(float(per_minute[:-1].max()), len(trace) / trace.duration)


def _scaler(kind: str, cal: Calibration, sizing: Sizing) -> tuple[Scaler, int]:
    start = sizing.fixed_mean(cal)  # every autoscaler starts where fixed-mean stays
    if kind == "fixed-peak":
        return Fixed(sizing.fixed_peak(cal), "peak"), sizing.fixed_peak(cal)
    if kind == "fixed-mean":
        return Fixed(sizing.fixed_mean(cal), "mean"), sizing.fixed_mean(cal)
    if kind.startswith(("hpa@", "kpa@")):
        target = round(cal.concurrency_at[float(kind[4:])], 1)
        cls = Hpa if kind.startswith("hpa") else Kpa
        return cls(target, 1, MAX_REPLICAS), start
    config = ScalerConfig(
        initial_capacity_per_group=cal.capacity_rps, target_utilization=UTILIZATION, high_utilization=HIGH_UTILIZATION
    )
    return Slo(slo_spec(), config), start


_CACHE: dict[str, object] = {}


def _job(args: tuple[str, int, Scenario, float, Calibration, Sizing, float]) -> tuple[Row, SimResult]:
    kind, seed, scenario, jitter, cal, sizing, cold_start = args
    model = _CACHE.get("model")
    if not isinstance(model, StepTimeModel):
        model = _CACHE["model"] = fit()
    base = _CACHE.get("base")
    if not isinstance(base, Trace):
        base = _CACHE["base"] = load()
    trace = transform(base, copies=scenario.copies, jitter_s=jitter, time_scale=1.0, seed=seed, swing=scenario.swing)
    scaler, start = _scaler(kind, cal, sizing)
    kv = kv_tokens_per_gpu(model.weights_gb)
    config = SimConfig(initial_replicas=start, cold_start_s=cold_start, kv_tokens_per_gpu=kv, seed=seed)
    cpu = time.process_time()
    result = simulate(trace, scaler, model, config)
    cpu = time.process_time() - cpu
    ok = (result.ttft <= TTFT_TARGET_S) & (result.tpot <= TPOT_TARGET_S)
    reversals, flaps, last, last_reversal = 0, 0, 0, -math.inf
    for t, before, after in result.decisions:
        direction = 1 if after > before else -1
        if last != 0 and direction != last:
            reversals += 1
            flaps += int(t - last_reversal < 600.0)
            last_reversal = t
        last = direction
    row = Row(
        scenario=scenario.name,
        scaler=scaler.name,
        seed=seed,
        attainment=float(ok.mean()),
        gpu_hours=result.gpu_seconds / 3600.0,
        events=len(result.decisions),
        reversals=reversals,
        flaps=flaps,
        ttft_p90=float(np.nanpercentile(result.ttft, 90)),
        tpot_p90=float(np.nanpercentile(result.tpot, 90)),
        cpu_s=cpu,
    )
    return row, result


def table(rows: Sequence[Row], order: Sequence[str]) -> str:
    lines = [
        "| scaler | SLO attainment | GPU-hours | scale events | reversals (flaps) | p90 TTFT (s) | p90 TPOT (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in order:
        mine = [r for r in rows if r.scaler == name]
        att = statistics.median(r.attainment for r in mine)
        lo, hi = min(r.attainment for r in mine), max(r.attainment for r in mine)
        lines.append(
            f"| {name} | {att:.2%} ({lo:.2%} to {hi:.2%}) | {statistics.median(r.gpu_hours for r in mine):.2f} "
            f"| {statistics.median(r.events for r in mine):g} | {statistics.median(r.reversals for r in mine):g} "
            f"({statistics.median(r.flaps for r in mine):g}) "
            f"| {statistics.median(r.ttft_p90 for r in mine):.3f} "
            f"| {statistics.median(r.tpot_p90 for r in mine) * 1000:.1f} |"
        )
    return "\n".join(lines)


def plot(results: Sequence[SimResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    for r in results:
        t = [x[0] / 60 for x in r.timeline]
        top.step(t, [x[1] for x in r.timeline], where="post", label=r.scaler)
        minute = (r.arrival // 60).astype(int)
        p90 = [float(np.nanpercentile(r.ttft[minute == m], 90)) for m in range(minute.max() + 1) if (minute == m).any()]
        bottom.plot(range(len(p90)), p90, label=r.scaler)
    top.set_ylabel("replica groups (asked for)")
    top.legend(fontsize=8, ncol=2)
    bottom.set_yscale("log")
    bottom.axhline(TTFT_TARGET_S, color="k", linestyle="--", linewidth=0.8)
    bottom.set_ylabel("p90 TTFT per minute (s)")
    bottom.set_xlabel("minutes into the trace")
    fig.suptitle("Arks autoscaling benchmark (first seed); step times: H100 calibration", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jitter", type=float, default=30.0, help="per-request arrival jitter, +- seconds")
    parser.add_argument("--cold-start", type=float, default=120.0, help="seconds before a new group serves")
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--scenario", choices=[s.name for s in SCENARIOS], action="append", help="default: all")
    args = parser.parse_args(argv)
    scenarios = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]

    started = time.perf_counter()
    model = fit()
    base = load()
    print(f"step-time model: {model.describe()}")
    cal = calibrate(base, model)
    print(
        f"calibration: one group sustains {cal.capacity_rps:.1f} req/s within the SLO (99% of requests, steady "
        f"Poisson load); concurrency per group at "
        + ", ".join(f"{p:.0%} of it = {c:.1f}" for p, c in cal.concurrency_at.items())
    )
    jobs = []
    sizings: dict[str, Sizing] = {}
    for sc in scenarios:
        sizing = sizings[sc.name] = size(
            transform(base, copies=sc.copies, jitter_s=args.jitter, time_scale=1.0, seed=0, swing=sc.swing)
        )
        print(
            f"scenario {sc.name}: {sc.copies} copies of the trace ({len(base)} requests over {base.duration:.0f} s), "
            f"arrivals jittered ±{args.jitter:g} s, cosine swing {sc.swing:g}, real time; peak {sizing.peak_rps:.1f} "
            f"req/s, mean {sizing.mean_rps:.1f} req/s -> fixed-peak {sizing.fixed_peak(cal)}, fixed-mean "
            f"{sizing.fixed_mean(cal)} groups; autoscalers start at {sizing.fixed_mean(cal)}"
        )
        kinds = ["arks-slo", "fixed-peak", "fixed-mean"] + [f"{k}@{p}" for k in ("hpa", "kpa") for p in BASELINE_POINTS]
        jobs += [(k, seed, sc, args.jitter, cal, sizing, args.cold_start) for seed in range(args.seeds) for k in kinds]
    with Pool(args.processes) as pool:
        done = pool.map(_job, jobs)
    OUT.mkdir(parents=True, exist_ok=True)
    report = []
    for sc in scenarios:
        rows = [row for row, _ in done if row.scenario == sc.name]
        order = list(dict.fromkeys(row.scaler for row in rows))
        sizing = sizings[sc.name]
        header = (
            f"### Scenario `{sc.name}`: {sc.copies} x the Azure conversation trace, cosine swing {sc.swing:g} "
            f"(peak {sizing.peak_rps:.0f} req/s, mean {sizing.mean_rps:.0f} req/s)\n\n"
            f"SLO: TTFT ≤ {TTFT_TARGET_S * 1000:g} ms and TPOT ≤ {TPOT_TARGET_S * 1000:g} ms per request (vLLM "
            f"bucket edges); our scaler's spec: p90 TTFT ≤ {TTFT_TARGET_S * 1000:g} ms, p50 ITL ≤ "
            f"{TPOT_TARGET_S * 1000:g} ms, min 1, max {MAX_REPLICAS}, default behavior (30 s up, 300 s down, 60 s "
            f"warm-up). Medians over {args.seeds} seeds (attainment range in brackets); cold start "
            f"{args.cold_start:g} s, 1 H100 per group. Step times: {SOURCE}."
        )
        text = header + "\n\n" + table(rows, order)
        report.append(text)
        print()
        print(text)
        plot([r for row, r in done if row.seed == 0 and row.scenario == sc.name], OUT / f"autoscaling-{sc.name}.png")
    slowest = max(row.cpu_s for row, _ in done)
    print(f"\nslowest single simulation: {slowest:.1f} s of CPU")
    (OUT / "autoscaling.md").write_text("\n\n".join(report) + "\n")
    print(f"\nwrote {OUT}/autoscaling.md and autoscaling-*.png in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
