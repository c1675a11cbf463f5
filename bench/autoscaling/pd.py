"""`python -m bench.autoscaling.pd`: PD-separated serving in the simulator, per-role SLO autoscaling (ours: the
slo-scaler's decision per role, docs/pd.md) against fixed prefill:decode fleets sized for the peak.

The PD mode plays the trace through two pools in series (our model; the simulator's assumptions otherwise):
- prefill pool: the simulator's groups with every request cut to its prompt and one token (a prefill server
  computes the prompt and the first token); its TTFT is the prefill's;
- KV transfer: prompt tokens x 128 KiB (Llama-3.1-8B, bf16) at `--kv-gbytes-per-s` (default 50 GB/s: the 400 Gb/s
  RDMA link of the UCCL team's NIXL/Mooncake/NCCL transfer-engine benchmark, uccl-project.github.io/posts/
  kv-transfer-engine, Aug 2025 — the link's rate, an upper bound of what NIXL moves; their measured curves are
  not reproduced here): 2.6 us per token, 5.4 ms for a 2048-token prompt;
- decode pool: the simulator's groups in `decode_only` mode (a request arrives when its KV cache has, waits for
  a seat and KV memory, then decodes without computing its prompt).
A request meets the SLO when its end-to-end TTFT (arrival to its admission at a decode server) is at most 0.5 s
and its TPOT at most 50 ms, as in the aggregated benchmark. No backpressure from decode to prefill (a prefill
server in SGLang waits for the decode side's KV preallocation; here it never does): an assumption.

Ours: prefill scaled on p90 TTFT <= 400 ms (the prefill's share of the 500 ms) and its queue; decode on p50 ITL <=
50 ms, KV usage and its queue; with the slo-scaler's defaults (no capacity prior) and again with each role's
load-tested capacity as its prior, each seeing only its role's signals (`arks_slo_scaler.core.roles.role_signals`).
Each role's capacity is load-tested first, as an operator would: the highest steady rate one group serves with 99%
of requests within the role's share of the SLO (prefill: TTFT <= 400 ms; decode: a wait for a seat <= 100 ms and
TPOT <= 50 ms). As in the aggregated benchmark, ours starts where a fleet sized for the mean stays (per role,
ceil(mean rate / capacity)), and the fixed pair **sized for the peak** is ceil(peak one-minute rate / capacity) per
role, warm from the start. A grid of fixed pairs around it (two fewer to one more prefill groups, one fewer to one
more decode groups) is run too, and the cheapest pair reaching 99% is marked: a foresight no operator has (it is
found by trying them all).
GPU-hours: every group of both pools from creation to removal.
`--timeline`: after each run's table, ours' timeline per role (every run the other options select): per minute the
requests arriving, the share within the SLO and the shares that missed prefill's 400 ms, a 100 ms wait at decode or
the TPOT, and each pool's groups asked for / ready at the minute's end; then each role's decisions that changed its
groups or held it for a burst, with the scaler's reason and message.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from arks_common.api.application import AutoscalingSpec
from arks_slo_scaler.core.decide import GroupSample, ScalerConfig
from arks_slo_scaler.core.roles import role_config, role_signals

from .run import GOAL, SCENARIOS, TPOT_TARGET_S, TTFT_TARGET_S, played_trace, scenario_trace, size, steady_trace
from .scalers import Fixed, Slo
from .sim.engine import Scaler, SimConfig, SimResult, kv_tokens_per_gpu, simulate
from .sim.steptime import StepTimeModel, fit
from .sim.trace import Trace, load

KV_BYTES_PER_TOKEN = 2 * 32 * 8 * 128 * 2
PREFILL_TTFT_MS = 400.0


class RoleScaler(Scaler):
    """The slo-scaler's decision for one role, seeing only that role's signals."""

    def __init__(self, role: str, spec: AutoscalingSpec, prior: float | None = None) -> None:
        self.role = role
        name = f"arks-slo {role}" + (" (prior)" if prior is not None else "")
        self.inner = Slo(spec, role_config(role, ScalerConfig(initial_capacity_per_group=prior)), name)
        self.name = self.inner.name
        self.log: list[tuple[float, int, int, str, str]] = []  # (time, groups, desired, reason, message) per tick

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        seen = [replace(g, metrics=role_signals(self.role, g.metrics)) if g.metrics is not None else g for g in groups]
        desired = self.inner.tick(now, current, seen)
        if (decision := self.inner.last_decision) is not None:
            self.log.append((now, current, desired, str(decision.reason), decision.message))
        return desired


def role_spec(role: str, max_replicas: int) -> AutoscalingSpec:
    slo = (
        {"timeToFirstToken": {"targetMilliseconds": PREFILL_TTFT_MS, "percentile": 90}}
        if role == "prefill"
        else {"interTokenLatency": {"targetMilliseconds": TPOT_TARGET_S * 1000, "percentile": 50}}
    )
    return AutoscalingSpec.model_validate({"minReplicas": 1, "maxReplicas": max_replicas, "slo": slo})


@dataclass(frozen=True)
class PdResult:
    name: str
    attainment: float
    gpu_hours: float
    prefill_gpu_hours: float
    decode_gpu_hours: float
    ttft_p90: float
    tpot_p90: float
    events: int
    start: tuple[int, int]
    """Groups of (prefill, decode) at the start: a fixed pair's whole life."""


def play(
    trace: Trace,
    prefill: Scaler,
    decode: Scaler,
    start: tuple[int, int],
    cold_start: float,
    kv_gbps: float,
    measured_from: float = 0.0,
) -> tuple[SimResult, SimResult, PdResult]:
    """Both pools in series over `trace`; the result counts the requests that arrive, the GPU time and the scale
    events from `measured_from` on (after a warm-up, `--warm-up`)."""
    model = fit()
    kv = kv_tokens_per_gpu(model.weights_gb)
    prefill_trace = Trace(trace.arrival, trace.prompt, np.ones_like(trace.output))
    config = SimConfig(cold_start_s=cold_start, kv_tokens_per_gpu=kv, measure_from_s=measured_from)
    p = simulate(prefill_trace, prefill, model, replace(config, initial_replicas=start[0]))
    transfer = trace.prompt * KV_BYTES_PER_TOKEN / (kv_gbps * 1e9)
    at_decode = trace.arrival + p.ttft + transfer
    order = np.argsort(at_decode, kind="stable")
    decode_trace = Trace(at_decode[order], trace.prompt[order], trace.output[order])
    d = simulate(decode_trace, decode, model, replace(config, initial_replicas=start[1], decode_only=True))
    ttft = at_decode[order] + d.ttft - trace.arrival[order]  # arrival to the first token leaving a decode server
    measured = trace.arrival[order] >= measured_from
    ok = ((ttft <= TTFT_TARGET_S) & (d.tpot <= TPOT_TARGET_S))[measured]
    name = f"{prefill.name} + {decode.name}"
    result = PdResult(
        name=name,
        attainment=float(ok.mean()),
        gpu_hours=(p.gpu_seconds + d.gpu_seconds) / 3600.0,
        prefill_gpu_hours=p.gpu_seconds / 3600.0,
        decode_gpu_hours=d.gpu_seconds / 3600.0,
        ttft_p90=float(np.nanpercentile(ttft[measured], 90)),
        tpot_p90=float(np.nanpercentile(d.tpot[measured], 90)),
        events=sum(1 for t, _, _ in (*p.decisions, *d.decisions) if t >= measured_from),
        start=start,
    )
    return p, d, result


# reasons a timeline leaves out unless the count changes: the steady state and the waits between steps
QUIET = frozenset({"WithinSLO", "WarmingUp", "ScaleUpInProgress", "DownscaleStabilizing", "BreachNotSustained"})


def timeline(
    trace: Trace, p: SimResult, d: SimResult, roles: Sequence[RoleScaler], kv_gbps: float, measured_from: float = 0.0
) -> list[str]:
    """Ours' run read per role (`--timeline`): per minute, the requests arriving, the share within the SLO, the shares
    that missed prefill's 400 ms, a 100 ms wait at decode (`DECODE_WAIT_MS`) or the TPOT, and each pool's groups
    asked for / ready at the minute's end; then each role's decisions that changed its groups, and the first of each
    run of holds for another reason than `QUIET` (a burst's floor, `ShortBurst`), with the scaler's message."""
    at_decode = trace.arrival + p.ttft + trace.prompt * KV_BYTES_PER_TOKEN / (kv_gbps * 1e9)
    order = np.argsort(at_decode, kind="stable")
    arrival = trace.arrival[order]
    ttft = at_decode[order] + d.ttft - arrival
    ok = (ttft <= TTFT_TARGET_S) & (d.tpot <= TPOT_TARGET_S)
    lines = [
        "| minute | requests | in the SLO | prefill > 400 ms | decode wait > 100 ms | TPOT > 50 ms | prefill groups"
        " | decode groups |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def groups(result: SimResult, t: float) -> str:
        asked = [(a, b) for when, a, b in result.timeline if when <= t]
        return f"{asked[-1][0]}/{asked[-1][1]}" if asked else ""

    prefill_late = p.ttft[order] > PREFILL_TTFT_MS / 1000.0
    decode_late = d.ttft > DECODE_WAIT_MS / 1000.0
    slow = d.tpot > TPOT_TARGET_S
    for minute in range(int(measured_from // 60), int(arrival.max() // 60) + 1):
        sel = (arrival >= minute * 60) & (arrival < minute * 60 + 60)
        if not sel.any():
            continue
        end = minute * 60 + 60
        lines.append(
            f"| {minute} | {int(sel.sum())} | {ok[sel].mean():.1%} | {prefill_late[sel].mean():.1%}"
            f" | {decode_late[sel].mean():.1%} | {slow[sel].mean():.1%} | {groups(p, end)} | {groups(d, end)} |"
        )
    for role in roles:
        lines.append(f"{role.name}:")
        last = ""
        for now, current, desired, reason, message in role.log:
            if now >= measured_from and (desired != current or (reason not in QUIET and reason != last)):
                lines.append(f"- {now:.0f} s, {current} → {desired}, {reason}: {message}")
            last = reason
    return lines


# A decode server has the rest of the TTFT budget for the wait for a seat and KV memory (and the transfer).
DECODE_WAIT_MS = TTFT_TARGET_S * 1000 - PREFILL_TTFT_MS


def _steady_ok(role: str, base: Trace, rate: float, model: StepTimeModel, kv: int, seconds: float = 600.0) -> float:
    """The share of requests one group of `role` serves within the role's part of the SLO at a steady Poisson `rate`
    (sizes drawn from the trace; the first two minutes left out)."""
    trace = steady_trace(base, rate, 7, seconds)
    if role == "prefill":  # a prefill server computes the prompt and the first token
        trace = Trace(trace.arrival, trace.prompt, np.ones_like(trace.output))
    config = SimConfig(initial_replicas=1, render_text=False, kv_tokens_per_gpu=kv, decode_only=role == "decode")
    result = simulate(trace, Fixed(1, role), model, config)
    keep = result.arrival > 120.0
    if role == "prefill":
        ok = result.ttft[keep] <= PREFILL_TTFT_MS / 1000.0
    else:
        ok = (result.ttft[keep] <= DECODE_WAIT_MS / 1000.0) & (result.tpot[keep] <= TPOT_TARGET_S)
    return float(ok.mean())


def role_capacity(role: str, base: Trace, model: StepTimeModel, kv: int) -> float:
    """What an operator's load test of one group would find: the highest steady rate (req/s, bisected to 0.5) at which
    `GOAL` of the requests stay within the role's share of the SLO (prefill: TTFT <= 400 ms; decode: wait <= 100 ms
    and TPOT <= 50 ms)."""
    lo, hi = 1.0, 120.0
    if _steady_ok(role, base, lo, model, kv) < GOAL or _steady_ok(role, base, hi, model, kv) >= GOAL:
        raise ValueError(f"the {role} capacity is outside {lo:g}..{hi:g} req/s: widen the bisection")
    while hi - lo > 0.5:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _steady_ok(role, base, mid, model, kv) >= GOAL else (lo, mid)
    return lo


@dataclass(frozen=True)
class Sized:
    """Per role, the groups a fleet needs at a rate, from the load-tested capacities (as the aggregated benchmark's
    fixed-peak and fixed-mean)."""

    prefill_rps: float
    decode_rps: float

    def at(self, rate: float) -> tuple[int, int]:
        return (max(1, math.ceil(rate / self.prefill_rps)), max(1, math.ceil(rate / self.decode_rps)))


@dataclass(frozen=True)
class Run:
    scenario: str
    seed: int
    cold_starts: tuple[float, ...]
    kv_gbps: float
    sized: Sized
    grid: tuple[tuple[int, int], ...]
    warm: bool = False
    timeline: bool = False


def _one(run: Run) -> list[str]:
    """Every fixed pair of the grid and ours at each cold start for one scenario and seed: the run's lines."""
    scenario = next(s for s in SCENARIOS if s.name == run.scenario)
    base = load()
    sizing = size(scenario_trace(base, scenario, 30.0, run.seed))  # the measured part's peak and mean
    trace, measured_from = played_trace(base, scenario, 30.0, run.seed, run.warm)
    peak, start = run.sized.at(sizing.peak_rps), run.sized.at(sizing.mean_rps)
    pairs = sorted({*run.grid, peak})
    fixed = {pair: play(trace, Fixed(pair[0], "prefill"), Fixed(pair[1], "decode"), pair, 0.0, run.kv_gbps,
                        measured_from)[2] for pair in pairs}  # fmt: skip
    passing = [r for r in fixed.values() if r.attainment >= GOAL]
    cheapest = min(passing, key=lambda r: r.gpu_hours) if passing else None
    lines = [
        f"scenario {run.scenario} (seed {run.seed}{', after a warm-up copy' if run.warm else ''}):"
        f" {int((trace.arrival >= measured_from).sum())} requests over"
        f" {(trace.duration - measured_from) / 60:.0f} min, peak"
        f" {sizing.peak_rps:.0f} req/s, mean {sizing.mean_rps:.0f} req/s; sized for the peak {peak[0]} + {peak[1]},"
        f" for the mean (where ours starts) {start[0]} + {start[1]}",
        "| fleet | cold start | attainment | GPU-h (prefill + decode) | p90 TTFT | p90 TPOT | scale events |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ours: list[tuple[str, PdResult]] = []
    timelines: list[str] = []
    for cold in run.cold_starts:
        # without a prior (the service's default), and with each role's load-tested capacity as its prior: the
        # information the fixed pair sized for the peak was given
        for prefill_prior, decode_prior in ((None, None), (run.sized.prefill_rps, run.sized.decode_rps)):
            prefill = RoleScaler("prefill", role_spec("prefill", 16), prefill_prior)
            decode = RoleScaler("decode", role_spec("decode", 16), decode_prior)
            p, d, r = play(trace, prefill, decode, start, cold, run.kv_gbps, measured_from)
            ours.append((f"ours{' with the prior' if prefill_prior else ''} at {cold:.0f} s", r))
            lines.append(_line(r, f"{cold:.0f} s"))
            if run.timeline:
                timelines += ["", f"Timeline of {ours[-1][0]} ({r.attainment:.2%}):", ""]
                timelines += timeline(trace, p, d, (prefill, decode), run.kv_gbps, measured_from)
    for pair in pairs:
        r = fixed[pair]
        mark = " (sized for the peak)" if pair == peak else ""
        mark += " (cheapest ≥ 99%)" if cheapest is not None and r is cheapest else ""
        lines.append(_line(replace(r, name=r.name + mark), "warm"))
    lines.append("")
    for label, r in ours:
        lines.append(
            f"- {label}: {compare(r, fixed[peak], 'sized for the peak')}; "
            + (compare(r, cheapest, "the cheapest pair ≥ 99% (foresight)") if cheapest else "no pair of the grid ≥ 99%")
        )
    return lines + timelines


def _line(r: PdResult, cold: str) -> str:
    split = f"{r.gpu_hours:.2f} ({r.prefill_gpu_hours:.2f} + {r.decode_gpu_hours:.2f})"
    return (f"| {r.name} | {cold} | {r.attainment:.2%} | {split} | {r.ttft_p90 * 1000:.0f} ms | {r.tpot_p90 * 1000:.1f}"
            f" ms | {r.events} |")  # fmt: skip


def compare(ours: PdResult, other: PdResult, what: str) -> str:
    """Ours against a fixed pair: attainment (is the SLO held where the pair holds it?) and GPU-hours."""
    change = ours.gpu_hours / other.gpu_hours - 1
    cost = f"{abs(change):.0%} {'fewer' if change < 0 else 'more'} GPU-hours"
    if other.attainment >= GOAL:
        slo = "holds the SLO" if ours.attainment >= GOAL else f"**loses** attainment ({ours.attainment:.2%})"
    elif ours.attainment >= GOAL:
        slo = f"ours holds the SLO ({ours.attainment:.2%}), the pair does not"
    else:
        side = "higher" if ours.attainment > other.attainment else "**lower**"
        side = "equal" if ours.attainment == other.attainment else side
        slo = f"neither holds the SLO, ours {side} ({ours.attainment:.2%})"
    return f"vs {what} ({other.attainment:.2%}, {other.gpu_hours:.2f}): {slo}, {cost}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.autoscaling.pd", description=__doc__)
    names = [s.name for s in SCENARIOS]
    parser.add_argument("--scenario", action="append", choices=names, help="repeatable; default: every scenario")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--cold-start", type=float, action="append", help="repeatable; default: 120 and 240")
    parser.add_argument("--kv-gbytes-per-s", type=float, default=50.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--warm-up", action="store_true", help="measure after a warm-up copy (as bench.autoscaling.run)"
    )
    parser.add_argument(
        "--timeline", action="store_true", help="ours' timeline per role after each table (minutes, decisions)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    model, base = fit(), load()
    kv = kv_tokens_per_gpu(model.weights_gb)
    sized = Sized(role_capacity("prefill", base, model, kv), role_capacity("decode", base, model, kv))
    print(f"KV transfer at {args.kv_gbytes_per_s:g} GB/s; load-tested capacity of one group: prefill"
          f" {sized.prefill_rps:.1f} req/s (TTFT <= {PREFILL_TTFT_MS:.0f} ms), decode {sized.decode_rps:.1f} req/s"
          f" (wait <= {DECODE_WAIT_MS:.0f} ms, TPOT <= {TPOT_TARGET_S * 1000:.0f} ms), each for {GOAL:.0%} of"
          " requests", flush=True)  # fmt: skip
    runs = []
    for name in args.scenario or names:
        for seed in range(args.seeds):
            trace = scenario_trace(base, next(s for s in SCENARIOS if s.name == name), 30.0, seed)
            p, d = sized.at(size(trace).peak_rps)
            grid = tuple((a, b) for a in range(max(1, p - 2), p + 2) for b in range(max(1, d - 1), d + 2))
            colds = tuple(args.cold_start or (120.0, 240.0))
            runs.append(Run(name, seed, colds, args.kv_gbytes_per_s, sized, grid, args.warm_up, args.timeline))
    with ProcessPoolExecutor(args.processes) as pool:
        for lines in pool.map(_one, runs):
            print("\n".join(lines) + "\n", flush=True)
    print(f"{len(runs)} scenario x seed runs in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
