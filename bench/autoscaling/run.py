"""The autoscaling benchmark: every scaler over the same transformed traces, several seeds, tables and plots.

Run from the repository root: `.venv/bin/python -m bench.autoscaling.run` (`--help` for the options). Writes
`bench/out/autoscaling.md` (the tables) and `bench/out/autoscaling-<scenario>-<cold start>.png` (replicas and p90
TTFT over time, first seed). Step times come from step times measured on an H100 (shared/calibration/
h100-llama8b-steptime.json); the load from the Azure LLM inference trace (shared/traces/), transformed as
`sim/trace.py` documents.

Fairness: one calibration gives every scaler the same knowledge of a group's capacity. A steady-load sweep (Poisson
arrivals, request sizes drawn from the trace, one group) finds the highest rate at which a group keeps 99% of the
requests within the SLO. Baselines are swept: fixed sizes from below the mean to above the peak, the HPA and the KPA
at the per-group concurrency measured at several shares of that rate (their Pareto front is marked). Ours runs with
that capacity as its prior and without any prior. Every autoscaler starts at the fixed-mean size with its
scale-down memory seeded with it (`scalers.py`). The clairvoyant reference knows the future (`scalers.Clairvoyant`).

`--warm-up`: every contender first plays a warm-up copy of the scenario (the same scenario with another seed: its
bursts fall elsewhere) and is measured only on the trace that follows it (requests arriving after the warm-up, GPU
time after it), as a service that has been running for an hour would be; a fixed fleet changes only by what the
warm-up leaves queued, an autoscaler arrives with what it did and learned in that hour. Tables and rows are written
apart (`-warm`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from arks_common.api.application import AutoscalingSpec
from arks_slo_scaler.core.decide import GroupSample, ScalerConfig

from .scalers import Clairvoyant, Fixed, Hpa, Kpa, Slo
from .sim.engine import Scaler, SimConfig, SimResult, kv_tokens_per_gpu, simulate
from .sim.steptime import StepTimeModel, fit
from .sim.trace import Trace, inject_bursts, load, transform

OUT = Path(__file__).resolve().parents[1] / "out"
# SLO targets on vLLM's real bucket edges: TTFT 0.5 s (vllm:time_to_first_token_seconds has le="0.5"),
# TPOT 0.05 s (vllm:inter_token_latency_seconds has le="0.05").
TTFT_TARGET_S = 0.5
TPOT_TARGET_S = 0.05
MAX_REPLICAS = 16
GOAL = 0.99  # the attainment the clairvoyant reference must reach, and the bar of the checks
# HPA and KPA targets: the per-group concurrency measured at these shares of the calibrated capacity
BASELINE_POINTS = (0.5, 0.65, 0.8, 0.95)
COLD_STARTS = (120.0, 240.0)
WARM_UP_SEED = 1000  # the warm-up copy of seed s is the scenario with seed s + this (never a measured seed)


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
class Bursts:
    gap_s: float
    duration_s: tuple[float, float]
    factor: float
    prompt_quantile: float | None = None
    output_quantile: float | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    copies: int
    swing: float
    time_scale: float = 1.0
    bursts: Bursts | None = None
    held_out: bool = False  # defined before any run and never used to tune the scaler
    about: str = ""


SCENARIOS = (
    Scenario("swing", copies=16, swing=0.5, about="a day's rise and fall compressed into the hour"),
    Scenario("plain", copies=12, swing=0.0, about="the hour's own shape"),
    Scenario(
        "bursty",
        copies=4,
        swing=0.0,
        # gap 900 s and factor 7 give a one-minute peak over the mean of about 4, as the issue asks (median 4.2 over
        # seeds 0-5: 4.5, 5.4, 4.1, 4.3, 4.1, 4.0; the mean includes the bursts)
        bursts=Bursts(gap_s=900.0, duration_s=(60.0, 120.0), factor=7.0, prompt_quantile=0.75, output_quantile=0.5),
        about="bursts of 7x the mean rate lasting 1-2 min about every 15 min, of large prompts with short outputs",
    ),
    Scenario(
        "spikes",
        copies=4,
        swing=0.0,
        time_scale=2.0,
        bursts=Bursts(gap_s=300.0, duration_s=(30.0, 90.0), factor=4.0),
        # held out until 2026-12-06, when its timeline was read to find why ours lost (the second burst met a fleet
        # scaled down after the first): tuned on since; `surges` is held out instead
        about="the hour compressed into 30 min, shorter bursts of 4x, ordinary requests, about every 5 min",
    ),
    # defined and committed on 2026-12-06 before any scaler ran on it, as a second held-out scenario; its rows and
    # one timeline decided between two floor sizings on 2026-12-07 (docs/autoscaling.md §5): tuned on since
    Scenario(
        "surges",
        copies=8,
        swing=0.3,
        bursts=Bursts(gap_s=600.0, duration_s=(45.0, 180.0), factor=3.0, prompt_quantile=0.5),
        about="a gentler swing with surges of 3x lasting 45 s to 3 min about every 10 min, prompts above the median",
    ),
    # defined and committed on 2026-12-07 before any scaler ran on it: held out in place of `surges`
    Scenario(
        "tides",
        copies=10,
        swing=0.4,
        time_scale=1.5,
        bursts=Bursts(gap_s=420.0, duration_s=(60.0, 150.0), factor=2.5),
        held_out=True,
        about="held out: the hour in 40 min with a swing, surges of 2.5x lasting 1-2.5 min about every 7 min, of"
        " ordinary requests",
    ),
)


def scenario_trace(base: Trace, sc: Scenario, jitter: float, seed: int) -> Trace:
    trace = transform(base, copies=sc.copies, jitter_s=jitter, time_scale=sc.time_scale, seed=seed, swing=sc.swing)
    if sc.bursts is not None:
        b = sc.bursts
        trace, _ = inject_bursts(
            trace,
            base,
            seed=seed,
            gap_s=b.gap_s,
            duration_s=b.duration_s,
            factor=b.factor,
            prompt_quantile=b.prompt_quantile,
            output_quantile=b.output_quantile,
        )
    return trace


@dataclass(frozen=True)
class Row:
    scenario: str
    cold_start: float  # 0: a fixed fleet (no cold start involved)
    scaler: str
    family: str  # ours, ours-no-prior, clairvoyant, fixed, hpa, kpa
    seed: int
    attainment: float
    gpu_hours: float
    events: int
    reversals: int
    flaps: int  # reversals less than 10 minutes after the previous reversal (A -> B -> A: oscillation)
    minutes: float
    ttft_p90: float
    tpot_p90: float
    cpu_s: float  # CPU time of this one simulation (all of them for the clairvoyant's bisection)


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


def steady_trace(base: Trace, rate: float, seed: int, seconds: float = 600.0) -> Trace:
    """A steady Poisson load at `rate` for `seconds`, each request's sizes drawn from `base` (outputs at least 2)."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    arrival = np.cumsum(rng.exponential(1.0 / rate, n))
    pick = rng.integers(0, len(base), n)
    return Trace(arrival, base.prompt[pick], np.maximum(base.output[pick], 2))


def _steady(base: Trace, rate: float, seed: int, model: StepTimeModel, seconds: float = 600.0) -> tuple[float, float]:
    trace = steady_trace(base, rate, seed, seconds)
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
        lo, hi = (mid, hi) if attainment >= GOAL else (lo, mid)
    capacity = lo
    concurrency = {point: _steady(base, point * capacity, 7, model)[1] for point in BASELINE_POINTS}
    return Calibration(capacity, concurrency)


def size(trace: Trace) -> Sizing:
    per_minute = np.bincount((trace.arrival // 60).astype(int)) / 60.0
    return Sizing(float(per_minute[:-1].max()), len(trace) / trace.duration)


def schedule(trace: Trace, capacity: float, utilization: float) -> list[int]:
    """Groups per minute: the highest 20 s arrival rate within the minute at `utilization` of the capacity."""
    per_bin = np.bincount((trace.arrival // 20).astype(int)) / 20.0
    per_bin = np.concatenate([per_bin, np.zeros((-len(per_bin)) % 3)])
    peak = per_bin.reshape(-1, 3).max(axis=1)
    return [max(1, min(MAX_REPLICAS, math.ceil(r / (utilization * capacity)))) for r in peak]


@dataclass(frozen=True)
class Job:
    kind: str  # ours, ours-no-prior, clairvoyant, fixed:N, hpa:share, kpa:share
    scenario: Scenario
    seed: int
    cold_start: float
    jitter: float
    cal: Calibration
    sizing: Sizing
    warm: bool = False  # measured after a warm-up copy of the scenario (`--warm-up`)


_CACHE: dict[str, object] = {}


def _inputs() -> tuple[StepTimeModel, Trace]:
    model = _CACHE.get("model")
    if not isinstance(model, StepTimeModel):
        model = _CACHE["model"] = fit()
    base = _CACHE.get("base")
    if not isinstance(base, Trace):
        base = _CACHE["base"] = load()
    return model, base


def _scaler(job: Job) -> tuple[Scaler, int, str]:
    cal, sizing = job.cal, job.sizing
    start = sizing.fixed_mean(cal)  # every autoscaler starts where fixed-mean stays
    kind, _, arg = job.kind.partition(":")
    if kind == "fixed":
        return Fixed(int(arg), "size"), int(arg), "fixed"
    if kind in ("hpa", "kpa"):
        target = round(cal.concurrency_at[float(arg)], 1)
        scaler = Hpa(target, 1, MAX_REPLICAS, start) if kind == "hpa" else Kpa(target, 1, MAX_REPLICAS, start)
        return scaler, start, kind
    if kind == "ours":
        return (
            Slo(slo_spec(), ScalerConfig(initial_capacity_per_group=cal.capacity_rps), "arks-slo (prior)"),
            start,
            kind,
        )
    return Slo(slo_spec(), ScalerConfig(), "arks-slo (no prior)"), start, kind


def job_trace(job: Job) -> tuple[Trace, float]:
    """The trace a job plays and when its measured part starts (0 without a warm-up)."""
    _, base = _inputs()
    return played_trace(base, job.scenario, job.jitter, job.seed, job.warm)


def played_trace(base: Trace, sc: Scenario, jitter: float, seed: int, warm: bool) -> tuple[Trace, float]:
    """A scenario's trace for `seed`, after its warm-up copy (seed + `WARM_UP_SEED`) when `warm`; and when the
    measured part starts."""
    trace = scenario_trace(base, sc, jitter, seed)
    if not warm:
        return trace, 0.0
    first = scenario_trace(base, sc, jitter, seed + WARM_UP_SEED)
    start = first.duration + 1.0
    joined = Trace(
        np.concatenate([first.arrival, trace.arrival + start]),
        np.concatenate([first.prompt, trace.prompt]),
        np.concatenate([first.output, trace.output]),
    )
    return joined, start


def _play(job: Job, scaler: Scaler, start: int, trace: Trace, measured_from: float) -> tuple[SimResult, float]:
    model, _ = _inputs()
    kv = kv_tokens_per_gpu(model.weights_gb)
    config = SimConfig(
        initial_replicas=start,
        cold_start_s=job.cold_start,
        kv_tokens_per_gpu=kv,
        seed=job.seed,
        measure_from_s=measured_from,
    )
    cpu = time.process_time()
    result = simulate(trace, scaler, model, config)
    return result, time.process_time() - cpu


def _row(job: Job, name: str, family: str, result: SimResult, measured_from: float, cpu: float) -> Row:
    """One run's figures over its measured part: the requests that arrived, and the decisions made, from
    `measured_from` on (a reversal right after it counts against the direction the warm-up left)."""
    measured = result.arrival >= measured_from
    ok = ((result.ttft <= TTFT_TARGET_S) & (result.tpot <= TPOT_TARGET_S))[measured]
    reversals, flaps, last, last_reversal = 0, 0, 0, -math.inf
    for t, before, after in result.decisions:
        direction = 1 if after > before else -1
        if last != 0 and direction != last and t >= measured_from:
            reversals += 1
            flaps += int(t - last_reversal < 600.0)
        if last != 0 and direction != last:
            last_reversal = t
        last = direction
    return Row(
        scenario=job.scenario.name,
        cold_start=0.0 if family == "fixed" else job.cold_start,
        scaler=name,
        family=family,
        seed=job.seed,
        attainment=float(ok.mean()),
        gpu_hours=result.gpu_seconds / 3600.0,
        events=sum(1 for t, _, _ in result.decisions if t >= measured_from),
        reversals=reversals,
        flaps=flaps,
        minutes=(float(result.arrival[-1]) - measured_from) / 60.0,
        ttft_p90=float(np.nanpercentile(result.ttft[measured], 90)),
        tpot_p90=float(np.nanpercentile(result.tpot[measured], 90)),
        cpu_s=cpu,
    )


def _job(job: Job) -> tuple[Row, SimResult]:
    trace, measured_from = job_trace(job)
    if job.kind == "clairvoyant":
        return _clairvoyant(job, trace, measured_from)
    scaler, start, family = _scaler(job)
    result, cpu = _play(job, scaler, start, trace, measured_from)
    return _row(job, scaler.name, family, result, measured_from, cpu), result


def _clairvoyant(job: Job, trace: Trace, measured_from: float) -> tuple[Row, SimResult]:
    """Bisect the utilization for the cheapest per-minute schedule that keeps `GOAL` of the requests in the SLO."""
    lo, hi = 0.4, 1.3
    best: tuple[Row, SimResult] | None = None
    cpu_total = 0.0
    for _ in range(6):
        u = (lo + hi) / 2
        plan = schedule(trace, job.cal.capacity_rps, u)
        scaler = Clairvoyant(plan, job.cold_start, u)
        result, cpu = _play(job, scaler, plan[0], trace, measured_from)
        cpu_total += cpu
        row = _row(job, "clairvoyant", "clairvoyant", result, measured_from, cpu)
        if row.attainment >= GOAL:
            lo, best = u, (row, result)
        else:
            hi = u
    if best is None:  # even the most generous schedule misses the goal: report it as it is
        plan = schedule(trace, job.cal.capacity_rps, lo)
        result, cpu = _play(job, Clairvoyant(plan, job.cold_start, lo), plan[0], trace, measured_from)
        best = _row(job, "clairvoyant", "clairvoyant", result, measured_from, cpu), result
    row, result = best
    return replace(row, scaler=f"clairvoyant (at {lo:.0%} of capacity)", cpu_s=cpu_total), result


@dataclass(frozen=True)
class Point:
    """One scaler's medians over the seeds."""

    scaler: str
    family: str
    attainment: float
    att_lo: float
    att_hi: float
    gpu_hours: float
    events: float
    reversals: float
    flaps: float
    per_10min: float  # reversals per 10 minutes of trace (median)
    ttft_p90: float
    tpot_p90: float


def points(rows: Sequence[Row]) -> list[Point]:
    """Medians per scaler (the clairvoyant's seeds are one point whatever utilization each one's bisection found)."""

    def key(r: Row) -> str:
        return "clairvoyant" if r.family == "clairvoyant" else r.scaler

    out = []
    for name in dict.fromkeys(key(r) for r in rows):
        mine = [r for r in rows if key(r) == name]
        med = statistics.median
        if name == "clairvoyant":
            shares = sorted({r.scaler.split("at ")[-1].split(" of")[0] for r in mine})
            name = f"clairvoyant (at {', '.join(shares)} of capacity)"
        out.append(
            Point(
                scaler=name,
                family=mine[0].family,
                attainment=med(r.attainment for r in mine),
                att_lo=min(r.attainment for r in mine),
                att_hi=max(r.attainment for r in mine),
                gpu_hours=med(r.gpu_hours for r in mine),
                events=med(r.events for r in mine),
                reversals=med(r.reversals for r in mine),
                flaps=med(r.flaps for r in mine),
                per_10min=med(r.reversals / (r.minutes / 10.0) for r in mine),
                ttft_p90=med(r.ttft_p90 for r in mine),
                tpot_p90=med(r.tpot_p90 for r in mine),
            )
        )
    return out


def _dominates(a: Point, b: Point) -> bool:
    """`a` has higher attainment and fewer GPU-hours than `b` (medians)."""
    return a.attainment > b.attainment and a.gpu_hours < b.gpu_hours


def pareto(pts: Sequence[Point]) -> set[str]:
    """The baseline points no other point of the same family dominates."""
    return {p.scaler for p in pts if not any(_dominates(q, p) for q in pts if q.family == p.family)}


def checks(pts: Sequence[Point], ours: Point) -> str:
    """The issue's four checks for one of our rows, in words."""
    baselines = [p for p in pts if p.family in ("fixed", "hpa", "kpa")]
    dominating = [p.scaler for p in baselines if _dominates(p, ours)]
    best = max((p.attainment for p in baselines), default=0.0)
    clair = next((p for p in pts if p.family == "clairvoyant"), None)
    parts = [
        "dominated by " + ", ".join(dominating) if dominating else "no baseline point dominates it",
        (
            f"≥ {GOAL:.0%} where a baseline reaches it: {'yes' if ours.attainment >= GOAL else 'NO'}"
            if best >= GOAL
            else f"no baseline reaches {GOAL:.0%} (best {best:.2%})"
        ),
    ]
    if clair is not None:
        parts.append(f"GPU-hours {ours.gpu_hours / clair.gpu_hours - 1:+.1%} vs clairvoyant")
    parts.append(f"{ours.per_10min:.2f} reversals per 10 min")
    return f"**{ours.scaler}**: " + "; ".join(parts)


def table(pts: Sequence[Point]) -> str:
    front = pareto([p for p in pts if p.family in ("fixed", "hpa", "kpa")])
    lines = [
        "| scaler | SLO attainment | GPU-hours | scale events | reversals (flaps) | p90 TTFT (s) | p90 TPOT (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in pts:
        mark = " ◆" if p.scaler in front else ""
        lines.append(
            f"| {p.scaler}{mark} | {p.attainment:.2%} ({p.att_lo:.2%} to {p.att_hi:.2%}) | {p.gpu_hours:.2f} "
            f"| {p.events:g} | {p.reversals:g} ({p.flaps:g}) | {p.ttft_p90:.3f} | {p.tpot_p90 * 1000:.1f} |"
        )
    return "\n".join(lines)


def plot(results: Sequence[SimResult], path: Path, measured_from: float = 0.0) -> None:
    """Replicas asked for and p90 TTFT per minute; a warm-up, when there was one, ends at the dotted line."""
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
    if measured_from > 0:
        for ax in (top, bottom):
            ax.axvline(measured_from / 60, color="grey", linestyle=":", linewidth=1)
    top.set_ylabel("replica groups (asked for)")
    top.legend(fontsize=7, ncol=2)
    bottom.set_yscale("log")
    bottom.axhline(TTFT_TARGET_S, color="k", linestyle="--", linewidth=0.8)
    bottom.set_ylabel("p90 TTFT per minute (s)")
    bottom.set_xlabel("minutes into the trace")
    fig.suptitle("Arks autoscaling benchmark (first seed); step times: H100 calibration", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _kinds(sc: Scenario, cal: Calibration, sizing: Sizing) -> tuple[list[str], list[str]]:
    """(fleet kinds that do not depend on the cold start, kinds that do)."""
    lo = max(1, sizing.fixed_mean(cal) - 1)
    hi = min(MAX_REPLICAS, sizing.fixed_peak(cal) + 1)
    fixed = [f"fixed:{n}" for n in range(lo, hi + 1)]
    auto = ["ours", "ours-no-prior", "clairvoyant"] + [f"{k}:{p}" for k in ("hpa", "kpa") for p in BASELINE_POINTS]
    return fixed, auto


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--jitter", type=float, default=30.0, help="per-request arrival jitter, +- seconds")
    parser.add_argument("--cold-start", type=float, action="append", help="seconds before a new group serves")
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--scenario", choices=[s.name for s in SCENARIOS], action="append", help="default: all")
    parser.add_argument("--only", action="append", help="only these scaler kinds (ours, ours-no-prior, hpa, ...)")
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help="measure every contender after a warm-up copy of its scenario (another seed); writes *-warm files",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="tables also show the rows of the last run (bench/out/autoscaling-rows.json) for what this one skips",
    )
    args = parser.parse_args(argv)
    scenarios = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    colds = args.cold_start or list(COLD_STARTS)

    started = time.perf_counter()
    model, base = _inputs()
    print(f"step-time model: {model.describe()}")
    cal = calibrate(base, model)
    print(
        f"calibration: one group sustains {cal.capacity_rps:.1f} req/s within the SLO ({GOAL:.0%} of requests, steady "
        f"Poisson load); concurrency per group at "
        + ", ".join(f"{p:.0%} of it = {c:.1f}" for p, c in cal.concurrency_at.items())
    )
    jobs: list[Job] = []
    sizings: dict[str, Sizing] = {}
    for sc in scenarios:
        sizing = sizings[sc.name] = size(scenario_trace(base, sc, args.jitter, 0))
        print(
            f"scenario {sc.name} ({sc.about}): {sc.copies} copies, swing {sc.swing:g}, time / {sc.time_scale:g}, "
            f"bursts {sc.bursts}; peak {sizing.peak_rps:.1f} req/s, mean {sizing.mean_rps:.1f} req/s "
            f"(peak/mean {sizing.peak_rps / sizing.mean_rps:.1f}) -> fixed-peak {sizing.fixed_peak(cal)}, fixed-mean "
            f"{sizing.fixed_mean(cal)}; autoscalers start at {sizing.fixed_mean(cal)}"
        )
        fixed, auto = _kinds(sc, cal, sizing)
        only: list[str] = args.only or []

        def keep(kind: str, only: list[str] = only) -> bool:
            return not only or any(kind.startswith(o) for o in only)

        for seed in range(args.seeds):
            warm = args.warm_up
            jobs += [Job(k, sc, seed, 0.0, args.jitter, cal, sizing, warm) for k in fixed if keep(k)]
            for cold in colds:
                jobs += [Job(k, sc, seed, cold, args.jitter, cal, sizing, warm) for k in auto if keep(k)]
    # the clairvoyant bisections are the longest jobs: start them first so the pool ends evenly
    jobs.sort(key=lambda j: j.kind != "clairvoyant")
    with Pool(args.processes) as pool:
        done = pool.map(_job, jobs, chunksize=1)
    OUT.mkdir(parents=True, exist_ok=True)
    fresh = [row for row, _ in done]
    suffix = "-warm" if args.warm_up else ""
    saved = OUT / f"autoscaling-rows{suffix}.json"
    if args.merge and saved.exists():
        ran = {(r.scenario, r.family, r.cold_start) for r in fresh}
        fresh += [
            r
            for r in (Row(**d) for d in json.loads(saved.read_text()))
            if (r.scenario, r.family, r.cold_start) not in ran
        ]
    saved.write_text(json.dumps([asdict(r) for r in fresh]))
    report = []
    for sc in scenarios:
        _, measured_from = played_trace(base, sc, args.jitter, 0, args.warm_up)  # the first seed's, for the plots
        for cold in colds:
            rows = [r for r in fresh if r.scenario == sc.name and r.cold_start in (0.0, cold)]
            if not rows:
                continue
            pts = points(rows)
            sizing = sizings[sc.name]
            header = (
                f"### `{sc.name}`, cold start {cold:g} s{' (held out)' if sc.held_out else ''}"
                f"{', after a warm-up copy' if args.warm_up else ''}\n\n"
                f"{sc.about}; peak {sizing.peak_rps:.0f} req/s, mean {sizing.mean_rps:.0f} req/s (seed 0). "
                f"Medians over {args.seeds} seeds (attainment range in brackets); ◆ = on its family's Pareto front."
            )
            verdicts = "\n".join(f"- {checks(pts, p)}" for p in pts if p.family.startswith("ours"))
            text = header + "\n\n" + table(pts) + "\n\n" + verdicts
            report.append(text)
            print()
            print(text)
            firsts = [r for row, r in done if row.seed == 0 and row.scenario == sc.name and row.cold_start == cold]
            if firsts:
                plot(firsts, OUT / f"autoscaling-{sc.name}-{cold:g}{suffix}.png", measured_from)
    slowest = max(row.cpu_s for row, _ in done)
    cpu = sum(row.cpu_s for row, _ in done)
    wall = time.perf_counter() - started
    footer = (
        f"{len(jobs)} jobs, {cpu:.0f} s of simulation CPU in all (slowest job {slowest:.0f} s), "
        f"{wall:.0f} s wall-clock with {args.processes} processes"
    )
    print("\n" + footer)
    (OUT / f"autoscaling{suffix}.md").write_text("\n\n".join(report) + "\n\n" + footer + "\n")
    print(f"wrote {OUT}/autoscaling{suffix}.md and autoscaling-*{suffix}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
