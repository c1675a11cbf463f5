"""The discrete-event simulation of an LLM service made of replica groups, driven by a trace and steered by a scaler.

One job: given a trace, a scaler and a configuration, play the service forward and return per-request latencies,
the replica timeline and GPU time. What a scaler sees goes through the same path for every scaler: every
`scrape_interval_s` each ready group's leader is scraped — its metrics rendered as vLLM `/metrics` text with vLLM's
real histogram buckets (`exposition.py`), parsed back with `arks_slo_scaler.core.metrics.parse_metrics` — and the
scaler is asked for a replica count.

Model (assumptions are ours unless marked as measured):
- Each group runs a vLLM-V1-like continuous-batching scheduler with chunked prefill: every step carries one token
  for each decoding request plus prompt chunks up to a token budget (`token_budget`, 2048) shared with the decodes;
  waiting requests are admitted first-come-first-served while `max_num_seqs` (256) and the KV cache allow. A
  request's first token comes at the end of the step that finishes its prompt; then one token per step.
- Step time: `StepTimeModel` fitted to step times measured on an H100 (source: shared/calibration/
  h100-llama8b-steptime.json). Decode-only stretches are advanced in closed form between events (the context
  grows by one token per sequence per step, so step times are linear in the step index), which keeps one hour of
  a multi-group service within seconds of CPU.
- KV capacity per GPU: (80 GB x 0.90 memory utilization - 16.06 GB weights (measured) - 2 GB activations and CUDA
  graphs) / 128 KiB per token (Llama-3.1-8B: 32 layers x 8 KV heads x 128 dims x 2 (K, V) x 2 bytes) = ~411k
  tokens; a group of `gpus_per_group` GPUs (tensor parallel) has that many times the tokens. Admission reserves a
  request's prompt plus output (the simulator knows the output length; vLLM would preempt instead).
- A new group serves after `cold_start_s` (120 s: pod start, image, weights); its GPUs count from its creation.
- Scale-down drains: the newest groups stop receiving requests, finish what they hold, then leave (their GPUs count
  until then). Groups still starting are cancelled first.
- Load balancer: least outstanding requests (waiting + running) with two random choices among ready, non-draining
  groups (Envoy's LEAST_REQUEST default, seeded): a group that just came up is not flooded with every request
  until it has as many as the others.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from arks_common.api.application import Runtime
from arks_slo_scaler.core.decide import GroupSample
from arks_slo_scaler.core.metrics import MetricsSnapshot, parse_metrics

from .exposition import ITL_BUCKETS, TTFT_BUCKETS, GroupCounters, render_vllm
from .steptime import StepTimeModel
from .trace import Trace

KV_BYTES_PER_TOKEN = 2 * 32 * 8 * 128 * 2  # K and V, 32 layers, 8 KV heads, head dim 128, bf16


def kv_tokens_per_gpu(weights_gb: float, memory_gb: float = 80.0, utilization: float = 0.90) -> int:
    """KV-cache tokens one H100 holds next to the weights (see the module docstring for the assumptions)."""
    free = memory_gb * utilization - weights_gb - 2.0
    return int(free * 1e9 / KV_BYTES_PER_TOKEN)


@dataclass(frozen=True)
class SimConfig:
    initial_replicas: int = 1
    cold_start_s: float = 120.0
    scrape_interval_s: float = 15.0
    gpus_per_group: int = 1
    token_budget: int = 2048
    max_num_seqs: int = 256
    kv_tokens_per_gpu: int = 411_000
    render_text: bool = True  # False skips the text round trip (for quick unit tests); the benchmark keeps it
    seed: int = 0  # the load balancer's random choices
    # PD-separated serving (bench/autoscaling/pd.py): a `decode` group receives each request's KV cache and computes
    # no prompt: a request admitted (seat and KV for prompt + output) starts decoding at once, its first token being
    # the prefill's. A `prefill` pool needs no mode: its requests are the trace's with one output token.
    decode_only: bool = False
    # GPU time counted from here on (a warm-up before it is played but not paid in the result)
    measure_from_s: float = 0.0


class Scaler:
    """What the simulator asks every `scrape_interval_s`: how many groups, given what the scrapes showed."""

    name = "scaler"

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        raise NotImplementedError


@dataclass
class _Group:
    gid: int
    created: float
    ready_at: float
    counters: GroupCounters
    draining: bool = False
    removed_at: float | None = None
    waiting: deque[int] = field(default_factory=deque)
    prefilling: list[list[int]] = field(default_factory=list)  # [rid, prompt tokens still to compute]
    heap: list[tuple[int, int]] = field(default_factory=list)  # (step of the last token, rid)
    decoding: int = 0
    ctx_offset: float = 0.0  # sum over decoders of (prompt + 1 - step of first token): context sum = this + B*steps
    steps: int = 0
    kv_reserved: int = 0
    busy: bool = False
    version: int = 0
    # the step in flight: start time, steps it covers, and its plan (None for a decode-only run)
    run_start: float = 0.0
    run_steps: int = 0
    run_base_ms: float = 0.0
    plan: list[tuple[list[int], int]] | None = None
    last_scrape: tuple[float, MetricsSnapshot] | None = None

    def outstanding(self) -> int:
        return len(self.waiting) + len(self.prefilling) + self.decoding

    def empty(self) -> bool:
        return not self.waiting and not self.prefilling and self.decoding == 0


@dataclass
class SimResult:
    scaler: str
    ttft: npt.NDArray[np.float64]
    tpot: npt.NDArray[np.float64]
    arrival: npt.NDArray[np.float64]
    gpu_seconds: float
    end: float
    timeline: list[tuple[float, int, int]]  # (time, groups asked for, groups ready)
    decisions: list[tuple[float, int, int]]  # (time, from, to) for every change of the replica count
    notes: list[str] = field(default_factory=list)  # scaler messages, for the first seed's log


_ARRIVAL, _STEP, _READY, _TICK = 0, 1, 2, 3


def simulate(
    trace: Trace,
    scaler: Scaler,
    model: StepTimeModel,
    config: SimConfig = SimConfig(),
    on_decision: Callable[[float, str], None] | None = None,
) -> SimResult:
    """Play `trace` through a service steered by `scaler`; returns per-request latencies and the replica timeline."""
    n = len(trace)
    prompt = trace.prompt.tolist()
    output = trace.output.tolist()
    arrival = trace.arrival.tolist()
    first = [math.nan] * n
    finish = [math.nan] * n
    first_step = [0] * n
    kv_cap = config.kv_tokens_per_gpu * config.gpus_per_group
    budget, max_seqs = config.token_budget, config.max_num_seqs
    d0, d1, d2, p1, p2 = model.d0, model.d1, model.d2, model.p1, model.p2

    events: list[tuple[float, int, int, int, int]] = []  # (time, seq, kind, a, b)
    seq = 0

    def push(t: float, kind: int, a: int = 0, b: int = 0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, a, b))

    rng = random.Random(config.seed)
    groups: list[_Group] = []
    frontend: deque[int] = deque()  # requests that arrived while no group was ready

    def new_group(now: float, ready_at: float) -> _Group:
        g = _Group(len(groups), now, ready_at, GroupCounters.empty())
        groups.append(g)
        if ready_at > now:
            push(ready_at, _READY, g.gid)
        return g

    for _ in range(config.initial_replicas):
        new_group(-3600.0 - config.cold_start_s, -3600.0)  # warm from the start; it too took a cold start once

    def start_step(g: _Group, now: float) -> None:
        """Plan `g`'s next step: a mixed step if there is prompt work, else a decode-only run to the next finish."""
        if config.decode_only:
            admit_decoders(g, now)
        b = g.decoding
        left = budget - b
        plan: list[tuple[list[int], int]] = []
        tokens = 0
        for entry in g.prefilling:
            if left <= 0:
                break
            chunk = min(entry[1], left)
            plan.append((entry, chunk))
            tokens += chunk
            left -= chunk
        while left > 0 and g.waiting and b + len(g.prefilling) < max_seqs:
            rid = g.waiting[0]
            need = prompt[rid] + output[rid]
            if g.kv_reserved + need > kv_cap:
                break
            g.waiting.popleft()
            g.kv_reserved += need
            entry = [rid, prompt[rid]]
            g.prefilling.append(entry)
            chunk = min(entry[1], left)
            plan.append((entry, chunk))
            tokens += chunk
            left -= chunk
        ctx = g.ctx_offset + b * g.steps
        g.version += 1
        g.run_start = now
        if tokens:
            ms = (d0 + d1 * b + d2 * ctx + p1 * tokens + p2 * tokens * tokens) if b else model.prefill_ms(tokens)
            g.plan, g.run_steps, g.run_base_ms, g.busy = plan, 1, ms, True
            push(now + ms / 1000.0, _STEP, g.gid, g.version)
        elif b:
            k = g.heap[0][0] - g.steps
            base = d0 + d1 * b + d2 * ctx
            g.plan, g.run_steps, g.run_base_ms, g.busy = None, k, base, True
            push(now + _run_ms(base, d2 * b, k) / 1000.0, _STEP, g.gid, g.version)
        else:
            g.busy = False

    def admit_decoders(g: _Group, now: float) -> None:
        """Decode-only: waiting requests whose KV cache has arrived join the batch while seats and KV allow."""
        while g.waiting and g.decoding < max_seqs:
            rid = g.waiting[0]
            need = prompt[rid] + output[rid]
            if g.kv_reserved + need > kv_cap and g.decoding:
                break
            g.waiting.popleft()
            first[rid], first_step[rid] = now, g.steps
            g.counters.observe_ttft(now - arrival[rid])  # the wait for a seat and KV memory at the decode server
            if output[rid] <= 1:
                finish[rid] = now
                continue
            g.kv_reserved += need
            heapq.heappush(g.heap, (g.steps + output[rid] - 1, rid))
            g.decoding += 1
            g.ctx_offset += prompt[rid] + 1 - g.steps

    def end_step(g: _Group, now: float) -> None:
        c = g.counters
        b, k = g.decoding, g.run_steps
        # a decode-only run's steps lengthen linearly: their mean is the middle one
        mean_ms = g.run_base_ms + d2 * b * (k - 1) / 2.0 if g.plan is None else g.run_base_ms
        if b:
            c.observe_itl(mean_ms / 1000.0, b * k)
            c.generation_tokens += b * k
        g.steps += k
        if g.plan is not None:
            done = []
            for entry, chunk in g.plan:
                entry[1] -= chunk
                c.prompt_tokens += chunk
                if entry[1] == 0:
                    done.append(entry)
            for entry in done:
                g.prefilling.remove(entry)
                rid = entry[0]
                first[rid] = now
                first_step[rid] = g.steps
                c.observe_ttft(now - arrival[rid])
                c.generation_tokens += 1
                heapq.heappush(g.heap, (g.steps + output[rid] - 1, rid))
                g.decoding += 1
                g.ctx_offset += prompt[rid] + 1 - g.steps
        while g.heap and g.heap[0][0] <= g.steps:
            _, rid = heapq.heappop(g.heap)
            finish[rid] = now
            g.decoding -= 1
            g.ctx_offset -= prompt[rid] + 1 - first_step[rid]
            g.kv_reserved -= prompt[rid] + output[rid]
        start_step(g, now)
        if g.draining and g.empty() and g.removed_at is None:
            g.removed_at = now

    def interrupt(g: _Group, now: float) -> None:
        """A request arrived while `g` is in a decode-only run: end the run at the next step boundary instead."""
        if not g.busy or g.plan is not None or g.run_steps <= 1:
            return
        elapsed_ms = (now - g.run_start) * 1000.0
        done = _steps_within(g.run_base_ms, d2 * g.decoding, elapsed_ms)
        if done + 1 >= g.run_steps:
            return
        g.run_steps = done + 1
        g.version += 1
        push(g.run_start + _run_ms(g.run_base_ms, d2 * g.decoding, g.run_steps) / 1000.0, _STEP, g.gid, g.version)

    def route(rid: int, now: float) -> None:
        ready = [g for g in groups if not g.draining and g.removed_at is None and g.ready_at <= now]
        if not ready:
            frontend.append(rid)
            return
        if len(ready) > 2:
            i, j = rng.sample(range(len(ready)), 2)
            g = ready[i] if ready[i].outstanding() <= ready[j].outstanding() else ready[j]
        else:
            g = min(ready, key=_Group.outstanding)
        g.waiting.append(rid)
        if not g.busy:
            start_step(g, now)
        else:
            interrupt(g, now)

    def active() -> list[_Group]:
        return [g for g in groups if not g.draining and g.removed_at is None]

    def set_replicas(target: int, now: float) -> None:
        live = active()
        if target > len(live):
            for _ in range(target - len(live)):
                new_group(now, now + config.cold_start_s)
            return
        surplus = len(live) - target
        # cancel groups still starting first (newest first), then drain the newest ready ones
        for g in sorted(live, key=lambda x: (x.ready_at <= now, -x.gid)):
            if surplus == 0:
                break
            g.draining = True
            if g.ready_at > now or g.empty():
                g.removed_at = now
            surplus -= 1

    timeline: list[tuple[float, int, int]] = []
    decisions: list[tuple[float, int, int]] = []
    notes: list[str] = []
    for rid in range(n):
        push(arrival[rid], _ARRIVAL, rid)
    push(config.scrape_interval_s, _TICK)
    remaining = n
    last_t = 0.0
    while events:
        now, _, kind, a, b = heapq.heappop(events)
        last_t = now
        if kind == _ARRIVAL:
            route(a, now)
        elif kind == _STEP:
            g = groups[a]
            if b == g.version and g.busy:
                end_step(g, now)
        elif kind == _READY:
            g = groups[a]
            if g.removed_at is None and not g.draining:
                while frontend:
                    route(frontend.popleft(), now)
        else:
            remaining = sum(1 for x in finish if math.isnan(x)) if now > trace.duration else remaining
            if now > trace.duration and remaining == 0:
                break
            live = active()
            samples = []
            for g in live:
                if g.ready_at > now:
                    samples.append(GroupSample(f"g{g.gid}", None))
                    continue
                snapshot = _scrape(g, now, config)
                g.last_scrape = (now, snapshot)
                samples.append(
                    GroupSample(f"g{g.gid}", now - g.ready_at, now, snapshot, start_seconds=g.ready_at - g.created)
                )
            target = max(1, scaler.tick(now, len(live), tuple(samples)))
            if target != len(live):
                decisions.append((now, len(live), target))
                set_replicas(target, now)
            if on_decision is not None and getattr(scaler, "last_message", None):
                on_decision(now, str(getattr(scaler, "last_message", "")))
            timeline.append((now, len(active()), sum(1 for g in active() if g.ready_at <= now)))
            push(now + config.scrape_interval_s, _TICK)
    end = last_t
    gpu_seconds = sum(
        max(0.0, (g.removed_at if g.removed_at is not None else end) - max(g.created, config.measure_from_s))
        * config.gpus_per_group
        for g in groups
    )
    return SimResult(
        scaler=scaler.name,
        ttft=np.array(first) - trace.arrival,
        tpot=(np.array(finish) - np.array(first)) / np.maximum(trace.output - 1, 1),
        arrival=trace.arrival,
        gpu_seconds=gpu_seconds,
        end=end,
        timeline=timeline,
        decisions=decisions,
        notes=notes,
    )


def _run_ms(base_ms: float, slope_ms: float, steps: int) -> float:
    """Total time of `steps` decode steps whose durations grow by `slope_ms` each (the context grows)."""
    return steps * base_ms + slope_ms * steps * (steps - 1) / 2.0


def _steps_within(base_ms: float, slope_ms: float, elapsed_ms: float) -> int:
    """How many whole steps of a decode-only run have finished `elapsed_ms` after it started."""
    if slope_ms <= 0:
        return int(elapsed_ms // base_ms)
    a, b = slope_ms / 2.0, base_ms - slope_ms / 2.0
    j = int((-b + math.sqrt(b * b + 4 * a * elapsed_ms)) / (2 * a))
    while j > 0 and _run_ms(base_ms, slope_ms, j) > elapsed_ms:
        j -= 1
    return j


def _scrape(g: _Group, now: float, config: SimConfig) -> MetricsSnapshot:
    c = g.counters
    running = len(g.prefilling) + g.decoding
    kv = min(1.0, (g.ctx_offset + g.decoding * g.steps) / (config.kv_tokens_per_gpu * config.gpus_per_group))
    if config.render_text:
        text = render_vllm(c, running=running, waiting=len(g.waiting), kv_usage=kv)
        return parse_metrics(text, Runtime.VLLM).snapshot
    return c.snapshot(running=running, waiting=len(g.waiting), kv_usage=kv)


__all__ = ["ITL_BUCKETS", "TTFT_BUCKETS", "Scaler", "SimConfig", "SimResult", "kv_tokens_per_gpu", "simulate"]
