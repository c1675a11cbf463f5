"""The slo-scaler's decision: how many replica groups an application should have, from its latency against the SLO.

One job: a pure step function `decide(spec, observation, state) -> (decision, state)`. It reads no clock (`now` is in
the observation), does no I/O and keeps everything it remembers in the returned `ScalerState`.

The algorithm, in short (docs/autoscaling.md has the long form):
- Only groups that are ready, past `warmupSeconds` and freshly scraped count; otherwise Hold, and say why.
- The SLO percentiles come from the histogram increase over a short window across those groups (PromQL-style).
- Pressure = a percentile over its target, or early signals: a queue building up or the KV cache nearly full.
- A per-group capacity (first tokens per second a group sustains within the SLO) is learned online: lowered when the
  SLO breaks at a rate, raised when a rate is served comfortably. Demand / (capacity x target utilization) gives the
  number of groups needed: proportional steps instead of one group at a time.
- Up only after pressure has lasted `scaleUpStabilizationSeconds`, and not again while groups added earlier are
  still starting (unless the estimate asks for more). Down to the highest recommendation of the last
  `scaleDownStabilizationSeconds`, like the Kubernetes HPA. A multi-node group is one unit throughout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from arks_common.api.application import AutoscalingSpec, LatencyTarget
from arks_common.events.payloads import ScaleDirection
from arks_slo_scaler.core.metrics import (
    Histogram,
    MetricsSnapshot,
    histogram_increase,
    histogram_quantile,
    merge_histograms,
)

__all__ = [
    "Decision",
    "GroupSample",
    "Observation",
    "Reason",
    "ScalerConfig",
    "ScalerState",
    "Signals",
    "decide",
]


class Reason(StrEnum):
    """Why a decision was taken; one constant per distinct cause (status reason and Kubernetes Event reason)."""

    SLO_BREACHED = "SLOBreached"
    QUEUE_BUILDING = "QueueBuilding"
    KV_CACHE_FULL = "KVCacheFull"
    BREACH_NOT_SUSTAINED = "BreachNotSustained"
    SCALE_UP_IN_PROGRESS = "ScaleUpInProgress"
    AT_MAX_REPLICAS = "AtMaxReplicas"
    WITHIN_SLO = "WithinSLO"
    LOAD_ABOVE_CAPACITY = "LoadAboveCapacity"
    LOAD_DECREASED = "LoadDecreased"
    DOWNSCALE_STABILIZING = "DownscaleStabilizing"
    BELOW_MIN_REPLICAS = "BelowMinReplicas"
    ABOVE_MAX_REPLICAS = "AboveMaxReplicas"
    NO_METRICS = "NoMetrics"
    STALE_METRICS = "StaleMetrics"
    WARMING_UP = "WarmingUp"


@dataclass(frozen=True)
class GroupSample:
    """One replica group (however many nodes it has) as the scaler sees it: its age and its leader's last scrape."""

    group: str
    ready_seconds: float | None  # how long the whole group has been Ready; None while it is still starting
    scraped_at: float | None = None  # when `metrics` was scraped, on the same clock as `Observation.now`
    metrics: MetricsSnapshot | None = None
    nodes: int = 1  # informative only: a group is one unit whatever its size


@dataclass(frozen=True)
class Observation:
    now: float
    current_replicas: int  # the groups the application has now (starting ones included)
    groups: tuple[GroupSample, ...]


@dataclass(frozen=True)
class ScalerConfig:
    """Tunables that are not part of the API; the defaults are the ones the benchmark uses."""

    window_seconds: float = 30.0  # latency percentiles over the last this many seconds
    stale_after_seconds: float = 45.0  # three missed 15 s scrapes
    target_utilization: float = 0.9  # size the fleet so groups run at this share of their learned capacity
    high_utilization: float = 0.95  # scale up before the SLO breaks once groups run above this share (hysteresis)
    queue_per_group: float = 8.0  # waiting requests per group that count as pressure before the SLO breaks
    kv_usage_high: float = 0.9
    min_requests: float = 10.0  # fewer first tokens in the window than this is too little to learn capacity from
    healthy_ratio: float = 0.8  # a percentile under this share of its target is comfortably within the SLO
    # An operator's prior for the capacity (first tokens/s per group within the SLO, e.g. from a load test); learned
    # online from there. Without one the scaler reacts to pressure only until the first breach teaches it.
    initial_capacity_per_group: float | None = None
    # Ramps: a new group serves only after it starts, so size for the load expected by then (trend over a window).
    trend_window_seconds: float = 120.0
    group_start_seconds: float = 120.0  # how long a new group takes to serve (pods, image, weights)
    max_trend_factor: float = 1.5  # a trend from a few noisy points may raise the expected load by this much at most
    # Scaling down: the load's level over the trend window (a line through its points, less noisy than the last
    # window), raised only by the part of a rise the points support (slope less this many standard errors): noise in a
    # flat load must not hold extra groups, a forecast that does not materialize must not keep them.
    scale_down_trend_confidence: float = 2.0
    # When every percentile is under `healthy_ratio` of its target, scale down to the size that runs at this share of
    # the capacity (the scale-up threshold, so a scale-down never lands where a scale-up would fire at once).
    healthy_utilization: float = 0.95


@dataclass(frozen=True)
class ScalerState:
    """What the scaler remembers between calls. Start with `ScalerState()`.

    An empty window is seeded with the current size, so a fresh or restarted scaler waits one stabilization window
    before scaling down (the shell may seed it with the last scale from the application's status instead).
    """

    history: Mapping[str, tuple[tuple[float, MetricsSnapshot], ...]] = field(default_factory=dict)
    pressure_since: float | None = None
    recommendations: tuple[tuple[float, int], ...] = ()
    capacity_per_group: float | None = None  # first tokens per second one group sustains within the SLO
    demand: tuple[tuple[float, float], ...] = ()  # (time, first tokens per second of the whole application)
    scaled_down_at: float | None = None  # when the scaler last asked for fewer groups


@dataclass(frozen=True)
class Signals:
    """The numbers a decision was based on (for messages, status and the benchmark's plots)."""

    groups_used: int
    ttft_seconds: float | None
    itl_seconds: float | None
    ttft_ratio: float | None
    itl_ratio: float | None
    rate_per_group: float
    waiting_per_group: float
    kv_usage: float | None
    capacity_per_group: float | None
    needed: int | None


@dataclass(frozen=True)
class Decision:
    desired_replicas: int
    current_replicas: int
    direction: ScaleDirection
    reason: Reason
    message: str
    signals: Signals | None = None


def decide(
    spec: AutoscalingSpec,
    observation: Observation,
    state: ScalerState,
    config: ScalerConfig = ScalerConfig(),
) -> tuple[Decision, ScalerState]:
    """Decide the number of groups for one application at `observation.now`; returns the decision and new state."""
    now, current = observation.now, observation.current_replicas
    state = replace(state, history=_remember(state.history, observation, config))
    if not state.recommendations:
        # a fresh (or restarted) scaler knows nothing of the last window: no scale-down before one has passed
        state = replace(state, recommendations=((now, current),))
    lo, hi = spec.min_replicas, spec.max_replicas

    if current < lo:
        return _out(
            lo, current, Reason.BELOW_MIN_REPLICAS, f"{current} groups < minReplicas {lo}: {current} → {lo}"
        ), state
    if current > hi:
        return _out(
            hi, current, Reason.ABOVE_MAX_REPLICAS, f"{current} groups > maxReplicas {hi}: {current} → {hi}"
        ), state

    warmup = spec.behavior.warmup_seconds
    starting = [g for g in observation.groups if g.ready_seconds is None or g.ready_seconds < warmup]
    warm = [g for g in observation.groups if g.ready_seconds is not None and g.ready_seconds >= warmup]
    fresh = [g for g in warm if g.scraped_at is not None and now - g.scraped_at <= config.stale_after_seconds]
    usable = [g for g in fresh if len(state.history.get(g.group, ())) >= 2]
    if not usable:
        return _hold_without_data(current, starting, warm, fresh, now, config), state

    signals, rate_per_group, requests = _signals(spec, usable, state, config)
    pressure = _pressure(spec, signals, config)
    steady = not starting and len(usable) == current  # transitions (backlogs, new groups) teach nothing reliable
    capacity = state.capacity_per_group if state.capacity_per_group is not None else config.initial_capacity_per_group
    # learn only from a breach that has lasted: one spike says nothing about the rate a group sustains
    lasting = state.pressure_since is not None and now - state.pressure_since >= max(
        spec.behavior.scale_up_stabilization_seconds, config.window_seconds
    )
    if steady and (pressure is None or lasting):
        capacity = _learn_capacity(capacity, signals, pressure is not None, requests, config)
    ready = current - sum(1 for g in observation.groups if g.ready_seconds is None)
    demand = rate_per_group * max(ready, len(usable))
    state = _remember_demand(state, now, demand, config)
    lead = spec.behavior.scale_up_stabilization_seconds + config.group_start_seconds
    expected = demand + _slope(state.demand) * lead
    expected = min(expected, config.max_trend_factor * demand)
    needed = math.ceil(demand / (capacity * config.target_utilization)) if capacity else None
    needed_soon = math.ceil(expected / (capacity * config.target_utilization)) if capacity else None
    if requests == 0 and signals.waiting_per_group == 0:
        needed = lo  # no traffic at all: the floor is enough
    signals = replace(signals, capacity_per_group=capacity, needed=needed)
    state = replace(state, capacity_per_group=capacity)
    # a forecast alone does not undo a scale-down of the last window: only load above the threshold does (no flap)
    recently_down = (
        capacity is not None
        and state.scaled_down_at is not None
        and now - state.scaled_down_at < spec.behavior.scale_down_stabilization_seconds
        and demand <= capacity * config.high_utilization * current
    )
    if pressure is None and capacity and expected > capacity * config.high_utilization * current and not recently_down:
        # the SLO still holds, but the load will soon break it: act before it does (the early signal that matters)
        load = f"load {demand:.0f} req/s"
        if expected > demand * 1.01:
            load += f", rising to {expected:.0f} req/s in {lead:.0f} s,"
        limit = capacity * config.high_utilization * current
        load += f" > {config.high_utilization:.0%} of {current} x {capacity:.1f} req/s = {limit:.0f} req/s"
        pressure = Reason.LOAD_ABOVE_CAPACITY, load
    down_needed = _down_needed(state, signals, demand, needed, capacity, requests, lead, config)
    if needed_soon is not None and needed is not None:
        # a rising load counts at what it will be when a new group could serve: no scale-down in a ramp either
        needed = max(needed, needed_soon)
        signals = replace(signals, needed=needed)

    if pressure is not None:
        reason, what = pressure
        since = state.pressure_since if state.pressure_since is not None else now
        state = replace(state, pressure_since=since)
        lasted = now - since
        state = _recommend(state, now, max(current, needed or current), spec)
        if lasted < spec.behavior.scale_up_stabilization_seconds:
            msg = f"{what} for {lasted:.0f} s < {spec.behavior.scale_up_stabilization_seconds} s: hold at {current}"
            return _out(current, current, Reason.BREACH_NOT_SUSTAINED, msg, signals), state
        if current >= hi:
            msg = f"{what} for {lasted:.0f} s but at maxReplicas {hi}: hold at {current}"
            return _out(current, current, Reason.AT_MAX_REPLICAS, msg, signals), state
        if starting and (needed is None or needed <= current):
            names = ", ".join(g.group for g in starting)
            msg = f"{what} for {lasted:.0f} s; {len(starting)} group(s) still starting ({names}): hold at {current}"
            return _out(current, current, Reason.SCALE_UP_IN_PROGRESS, msg, signals), state
        step_cap = max(2 * current, current + 4)
        target = min(hi, step_cap, max(current + 1, needed or 0))
        state = _recommend(replace(state, pressure_since=now), now, target, spec)
        msg = f"{what} for {lasted:.0f} s: {current} → {target} groups{_capacity_note(signals)}"
        return _out(target, current, reason, msg, signals), state

    state = replace(state, pressure_since=None)
    recommendation = min(hi, max(lo, down_needed if down_needed is not None else current))
    state = _recommend(state, now, recommendation, spec)
    window = spec.behavior.scale_down_stabilization_seconds
    stabilized = max(r for _, r in state.recommendations)
    health = _health_text(spec, signals)
    if stabilized < current and not starting:
        msg = f"{health}; highest recommendation over {window} s is {stabilized}: {current} → {stabilized} groups"
        state = replace(state, scaled_down_at=now)
        return _out(stabilized, current, Reason.LOAD_DECREASED, msg + _capacity_note(signals), signals), state
    if recommendation < current:
        msg = f"{health}; {recommendation} groups would do, but the last {window} s asked for {stabilized}: hold"
        return _out(current, current, Reason.DOWNSCALE_STABILIZING, msg, signals), state
    return _out(current, current, Reason.WITHIN_SLO, f"{health}: hold at {current} groups", signals), state


def _out(desired: int, current: int, reason: Reason, message: str, signals: Signals | None = None) -> Decision:
    direction = (
        ScaleDirection.UP if desired > current else ScaleDirection.DOWN if desired < current else ScaleDirection.HOLD
    )
    return Decision(desired, current, direction, reason, message, signals)


def _remember(
    history: Mapping[str, tuple[tuple[float, MetricsSnapshot], ...]], observation: Observation, config: ScalerConfig
) -> dict[str, tuple[tuple[float, MetricsSnapshot], ...]]:
    """Keep each present group's scrapes of the window (plus the one just before it, the base of the increase)."""
    out: dict[str, tuple[tuple[float, MetricsSnapshot], ...]] = {}
    for g in observation.groups:
        entries = list(history.get(g.group, ()))
        if g.scraped_at is not None and g.metrics is not None and (not entries or g.scraped_at > entries[-1][0]):
            entries.append((g.scraped_at, g.metrics))
        horizon = observation.now - config.window_seconds
        while len(entries) > 2 and entries[1][0] <= horizon:
            entries.pop(0)
        if entries:
            out[g.group] = tuple(entries)
    return out


def _hold_without_data(
    current: int,
    starting: Sequence[GroupSample],
    warm: Sequence[GroupSample],
    fresh: Sequence[GroupSample],
    now: float,
    config: ScalerConfig,
) -> Decision:
    if warm and not fresh and any(g.scraped_at is not None for g in warm):
        ages = [now - g.scraped_at for g in warm if g.scraped_at is not None]
        last = f"last scrape {min(ages):.0f} s ago" if ages else "never scraped"
        limit = config.stale_after_seconds
        msg = f"metrics of {len(warm)} group(s) are stale ({last} > {limit:.0f} s): hold at {current}"
        return _out(current, current, Reason.STALE_METRICS, msg)
    if starting and not warm:
        msg = f"all {len(starting)} group(s) are starting or warming up; their samples are ignored: hold at {current}"
        return _out(current, current, Reason.WARMING_UP, msg)
    if fresh:
        msg = f"only one scrape so far from {len(fresh)} group(s), need two for rates: hold at {current}"
        return _out(current, current, Reason.NO_METRICS, msg)
    return _out(current, current, Reason.NO_METRICS, f"no metrics from any group: hold at {current}")


def _signals(
    spec: AutoscalingSpec, usable: Sequence[GroupSample], state: ScalerState, config: ScalerConfig
) -> tuple[Signals, float, float]:
    ttft: list[Histogram | None] = []
    itl: list[Histogram | None] = []
    kv: list[float] = []
    rate = waiting = requests = 0.0
    for g in usable:
        entries = state.history[g.group]
        (t0, base), (t1, last) = entries[0], entries[-1]
        dt = max(t1 - t0, 1e-9)
        ttft_inc = histogram_increase(base.time_to_first_token, last.time_to_first_token)
        ttft.append(ttft_inc)
        itl.append(histogram_increase(base.inter_token_latency, last.inter_token_latency))
        started = ttft_inc.count if ttft_inc is not None else 0.0
        requests += started
        rate += started / dt
        waiting += last.requests_waiting or 0.0
        if last.kv_cache_usage is not None:
            kv.append(last.kv_cache_usage)
    slo = spec.slo
    p_ttft = _percentile(slo.time_to_first_token, merge_histograms(ttft))
    p_itl = _percentile(slo.inter_token_latency, merge_histograms(itl))
    n = len(usable)
    signals = Signals(
        groups_used=n,
        ttft_seconds=p_ttft,
        itl_seconds=p_itl,
        ttft_ratio=_ratio(p_ttft, slo.time_to_first_token),
        itl_ratio=_ratio(p_itl, slo.inter_token_latency),
        rate_per_group=rate / n,
        waiting_per_group=waiting / n,
        kv_usage=sum(kv) / len(kv) if kv else None,
        capacity_per_group=state.capacity_per_group,
        needed=None,
    )
    return signals, rate / n, requests


def _percentile(target: LatencyTarget | None, histogram: Histogram | None) -> float | None:
    return None if target is None else histogram_quantile(target.percentile / 100.0, histogram)


def _ratio(value: float | None, target: LatencyTarget | None) -> float | None:
    if value is None or target is None:
        return None
    return value * 1000.0 / target.target_milliseconds


def _pressure(spec: AutoscalingSpec, s: Signals, config: ScalerConfig) -> tuple[Reason, str] | None:
    slo = spec.slo
    if s.ttft_ratio is not None and s.ttft_ratio > 1 and slo.time_to_first_token is not None and s.ttft_seconds:
        t = slo.time_to_first_token
        return Reason.SLO_BREACHED, (
            f"p{t.percentile:g} TTFT {s.ttft_seconds * 1000:.0f} ms > target {t.target_milliseconds:g} ms"
        )
    if s.itl_ratio is not None and s.itl_ratio > 1 and slo.inter_token_latency is not None and s.itl_seconds:
        t = slo.inter_token_latency
        return Reason.SLO_BREACHED, (
            f"p{t.percentile:g} ITL {s.itl_seconds * 1000:.1f} ms > target {t.target_milliseconds:g} ms"
        )
    if s.waiting_per_group > config.queue_per_group:
        return (
            Reason.QUEUE_BUILDING,
            f"{s.waiting_per_group:.1f} requests waiting per group > {config.queue_per_group:g}",
        )
    if s.kv_usage is not None and s.kv_usage > config.kv_usage_high:
        return Reason.KV_CACHE_FULL, f"KV cache {s.kv_usage:.0%} full > {config.kv_usage_high:.0%}"
    return None


def _learn_capacity(
    capacity: float | None, s: Signals, pressured: bool, requests: float, config: ScalerConfig
) -> float | None:
    """Lower the estimate towards (just under) a rate at which the SLO broke; raise it to a rate served comfortably.

    A single breach lowers it by at most 10%: one burst must not make the fleet twice as large as it needs.
    """
    if requests < config.min_requests:
        return capacity
    x = s.rate_per_group
    ratios = [r for r in (s.ttft_ratio, s.itl_ratio) if r is not None]
    worst = max(ratios) if ratios else None
    if pressured and worst is not None and worst > 1:
        return min(capacity, max(0.95 * x, 0.9 * capacity)) if capacity is not None else 0.95 * x
    if not pressured and worst is not None and worst <= config.healthy_ratio:
        if capacity is None:
            return None  # a rate served well is only a lower bound: sizing by it would over-provision for ever
        # creep up only: the latency knee is sharp, and a rate served for a few seconds is not a sustained one
        return capacity + 0.05 * (x - capacity) if x > capacity else capacity
    return capacity


def _remember_demand(state: ScalerState, now: float, demand: float, config: ScalerConfig) -> ScalerState:
    horizon = now - config.trend_window_seconds
    kept = tuple((t, d) for t, d in state.demand if t >= horizon and t != now)
    return replace(state, demand=(*kept, (now, demand)))


def _slope(points: Sequence[tuple[float, float]], confidence: float = 0.0) -> float:
    """The rise per second of the demand the points support: the least-squares slope less `confidence` standard
    errors, never below 0; 0 until there are three points over at least a minute."""
    n = len(points)
    if n < 3 or points[-1][0] - points[0][0] < 60.0:
        return 0.0
    mt = sum(t for t, _ in points) / n
    md = sum(d for _, d in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var <= 0:
        return 0.0
    slope = sum((t - mt) * (d - md) for t, d in points) / var
    residuals = sum((d - md - slope * (t - mt)) ** 2 for t, d in points)
    stderr = math.sqrt(residuals / (n - 2) / var)
    return max(0.0, slope - confidence * stderr)


def _down_needed(
    state: ScalerState,
    signals: Signals,
    demand: float,
    needed: int | None,
    capacity: float | None,
    requests: float,
    lead: float,
    config: ScalerConfig,
) -> int | None:
    """The groups to recommend for scaling down: the load's level plus the rise the points support, at
    `healthy_utilization` when the percentiles are comfortably under target (else at `target_utilization`)."""
    if requests == 0 and signals.waiting_per_group == 0:
        return needed  # no traffic at all: the floor, whether or not a capacity was learned
    if not capacity or needed is None:
        return None
    ratios = [r for r in (signals.ttft_ratio, signals.itl_ratio) if r is not None]
    healthy = bool(ratios) and max(ratios) <= config.healthy_ratio
    per_group = capacity * (config.healthy_utilization if healthy else config.target_utilization)
    level = _level(state.demand)
    rising = level + _slope(state.demand, config.scale_down_trend_confidence) * lead
    rising = min(rising, config.max_trend_factor * demand)
    now_needed = min(needed, math.ceil(level / per_group)) if requests > 0 else needed
    return max(now_needed, math.ceil(rising / per_group))


def _level(points: Sequence[tuple[float, float]]) -> float:
    """The demand now as the least-squares line through the window's points says (less noisy than the last point)."""
    n = len(points)
    if n < 3:
        return points[-1][1]
    mt = sum(t for t, _ in points) / n
    md = sum(d for _, d in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var <= 0:
        return md
    slope = sum((t - mt) * (d - md) for t, d in points) / var
    return max(0.0, md + slope * (points[-1][0] - mt))


def _recommend(state: ScalerState, now: float, replicas: int, spec: AutoscalingSpec) -> ScalerState:
    horizon = now - spec.behavior.scale_down_stabilization_seconds
    kept = tuple((t, r) for t, r in state.recommendations if t > horizon and t != now)
    return replace(state, recommendations=(*kept, (now, replicas)))


def _health_text(spec: AutoscalingSpec, s: Signals) -> str:
    parts = []
    if spec.slo.time_to_first_token is not None and s.ttft_seconds is not None:
        t = spec.slo.time_to_first_token
        parts.append(f"p{t.percentile:g} TTFT {s.ttft_seconds * 1000:.0f} ms ≤ {t.target_milliseconds:g} ms")
    if spec.slo.inter_token_latency is not None and s.itl_seconds is not None:
        t = spec.slo.inter_token_latency
        parts.append(f"p{t.percentile:g} ITL {s.itl_seconds * 1000:.1f} ms ≤ {t.target_milliseconds:g} ms")
    if not parts:
        parts.append("no requests in the window")
    return ", ".join(parts)


def _capacity_note(s: Signals) -> str:
    if s.capacity_per_group is None or s.needed is None:
        return ""
    return f" ({s.rate_per_group:.1f} req/s per group, capacity ≈ {s.capacity_per_group:.1f} → {s.needed} needed)"
