"""The slo-scaler's decision: how many replica groups an application should have, from its latency against the SLO.

One job: a pure step function `decide(spec, observation, state) -> (decision, state)`. It reads no clock (`now` is in
the observation), does no I/O and keeps everything it remembers in the returned `ScalerState`.

The algorithm, in short (docs/autoscaling.md has the long form):
- Only groups that are ready, past `warmupSeconds` and freshly scraped count; otherwise Hold, and say why.
- The SLO percentiles come from the histogram increase over a short window across those groups (PromQL-style).
- Pressure = a percentile over its target, or early signals: a queue building up or the KV cache nearly full.
- A per-group capacity (first tokens per second a group sustains within the SLO) is learned online (`learning.py`),
  with or without an operator's prior. Demand (the arrival rate: served plus the queue's growth) / (capacity x
  planned utilization) gives the number of groups needed: proportional steps instead of one group at a time. The
  planned utilization leaves a headroom learned from how bursty the demand has been.
- Ramps are met ahead of time: the demand's trend is projected over the cold start the scaler measured (scale-up to
  first ready sample). Under pressure the step also drains the queue (waiting requests within `drain_seconds`).
- Up only after pressure has lasted `scaleUpStabilizationSeconds`, and not again while groups added earlier are
  still starting (unless the estimate asks for more). Down to the highest recommendation of the last
  `scaleDownStabilizationSeconds`, like the Kubernetes HPA, and never below what a recent burst needed. Bursts
  that recur shorter than the cold start are not chased: a group asked for during one would serve after it, so the
  fleet is held at the floor the bursts set (and what was asked for a burst gives way to that floor once its
  pressure is over). What is remembered of bursts, and the floor they set, is `bursts.py`'s. A multi-node group is
  one unit throughout.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from arks_common.api.application import MAX_SCALE_DOWN_STABILIZATION_SECONDS, AutoscalingSpec, LatencyTarget
from arks_common.events.payloads import ScaleDirection
from arks_slo_scaler.core.bursts import BurstMemory, burst_floor, release_to_floor, too_short_to_chase, track_bursts
from arks_slo_scaler.core.learning import (
    CapacityEstimate,
    StartTracker,
    headroom,
    learn_capacity,
    level,
    start_seconds,
    track_starts,
)
from arks_slo_scaler.core.metrics import (
    Histogram,
    MetricsSnapshot,
    UnifiedMetric,
    histogram_increase,
    histogram_quantile,
    merge_histograms,
)
from arks_slo_scaler.core.sizing import backlog_step, planned_utilization

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
    RECENT_BURST = "RecentBurst"
    SHORT_BURST = "ShortBurst"
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
    # how long it took from its creation to Ready (its leader pod's timestamps), when known: the cold start of a group
    # no scale-up of this scaler explains (met by a fresh or restarted scaler, recreated, added by another hand)
    start_seconds: float | None = None
    # when its leader's runtime last started (its container's `startedAt`), on the clock of `scraped_at`; None when
    # unknown. Its counters began at zero then: whatever it printed since is new against a scrape from before.
    started_at: float | None = None


@dataclass(frozen=True)
class Observation:
    now: float
    # the groups the application has now, starting ones included: the count last decided, which may be ahead of the
    # pods (groups asked for that have no leader pod yet are starting)
    current_replicas: int
    groups: tuple[GroupSample, ...]


@dataclass(frozen=True)
class ScalerConfig:
    """Tunables that are not part of the API; the defaults are the ones the benchmark uses."""

    window_seconds: float = 30.0  # latency percentiles over the last this many seconds
    # A group's newest scrape counts while it is at most this old (three missed 15 s scrapes), or, where its scrapes
    # come further apart, `stale_after_scrapes` x their spacing (a Prometheus scraping every 60 s answers a scrape up
    # to a minute old), at most `longest_stale_after_seconds`. The spacing is the shortest between its last
    # `spacing_scrapes` distinct scrape times: a missed scrape makes a longer gap, never a shorter one.
    stale_after_seconds: float = 45.0
    stale_after_scrapes: float = 2.0
    longest_stale_after_seconds: float = 180.0
    spacing_scrapes: int = 5
    target_utilization: float = 0.9  # size the fleet so groups run at this share of their learned capacity ...
    # ... until `min_variability_samples` samples show how far the load strays above its forecast; then at
    # 1 / headroom, at most `max_utilization` (closer to capacity when the forecast's error is small). Off by
    # default (= target_utilization): at 0.97 the benchmark lost attainment with a prior and a 240 s cold start
    # (docs/autoscaling.md).
    max_utilization: float = 0.9
    min_variability_samples: int = 20
    high_utilization: float = 0.95  # scale up before the SLO breaks once groups run above this share (hysteresis)
    queue_per_group: float = 8.0  # waiting requests per group that count as pressure before the SLO breaks
    kv_usage_high: float = 0.9
    min_requests: float = 10.0  # fewer first tokens in the window than this is too little to learn capacity from
    healthy_ratio: float = 0.8  # a percentile under this share of its target is comfortably within the SLO
    # An operator's prior for the capacity (first tokens/s per group within the SLO, e.g. from a load test); learned
    # online from there. Without one the scaler explores (`learning.learn_capacity`: from the highest rate served
    # comfortably, extrapolated to where latency would reach `knee_ratio` of its target, at most `explore_factor` x that
    # rate) until the latency nears the SLO (a percentile past `knee_ratio` of its target) and confirms it there.
    initial_capacity_per_group: float | None = None
    knee_ratio: float = 0.5
    explore_factor: float = 2.0
    # An exploring guess is smoothed (0.7/0.3) both ways; with this set, a lower guess from the highest rate yet
    # replaces it at once. Where the latency is flat until a queueing knee (PD prefill's TTFT: `roles.role_config`),
    # the first rise at the frontier is the knee itself, and smoothing it in kept the guess above the knee while a
    # ramp walked into it (docs/autoscaling.md §5b). Off by default: not measured on the aggregated role.
    guess_falls_at_once: bool = False
    # Ramps: a new group serves only after it starts, so size for the load expected by then (trend over a window).
    trend_window_seconds: float = 120.0
    # how long a new group takes to serve (pods, image, weights) until one was measured: a scale-up to its group's first
    # Ready sample, or a group's own creation to Ready (`GroupSample.start_seconds`)
    group_start_seconds: float = 120.0
    # a start a group's own timestamps claim past this is not believed (a pod Ready again after a readiness flap
    # keeps only its last transition, which would read as a start of hours)
    longest_group_start_seconds: float = 1800.0
    # Bursts: under pressure the step also serves the queue within this time; the fleet is planned with a headroom of
    # 1 + `headroom_z` x the RMS of how far demand lay above what the trend window expected (relative), over
    # `variability_window_seconds` (at most `max_headroom`; it only matters where it exceeds 1 / `target_utilization`);
    # demand more than `burst_deviation` above what was expected starts a burst. Once bursts recur, scale-down keeps
    # what the highest recent one needed for 1.5 x the longest gap seen between burst starts (at most
    # `burst_memory_seconds`): a one-off step is a new level, not a burst to wait for.
    drain_seconds: float = 60.0
    variability_window_seconds: float = 1200.0
    headroom_z: float = 1.0
    max_headroom: float = 1.6
    burst_deviation: float = 0.25
    burst_memory_seconds: float = 1800.0
    max_trend_factor: float = 1.5  # a trend from a few noisy points may raise the expected load by this much at most
    # Scaling down: the load's level over the trend window (a line through its points, less noisy than the last
    # window), raised only by the part of a rise the points support (slope less this many standard errors): noise in a
    # flat load must not hold extra groups, a forecast that does not materialize must not keep them.
    scale_down_trend_confidence: float = 2.0
    # Within a scale-down window, a forecast alone does not scale up again (no flap): a breach or a queue acts in time
    # where latency grows before the capacity ends. Where it does not (a decode server's seats run out while its ITL
    # is flat: `roles.role_config`), the forecast is the only early signal, and a rise the points support (the
    # scale-down's own test) undoes the scale-down too. Off by default: on every role, the aggregated benchmark's
    # burst scenarios paid up to 11% more GPU-hours for nothing (docs/autoscaling.md §5b).
    supported_rise_undoes_scale_down: bool = False
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
    capacity: CapacityEstimate | None = None  # None: not started (the prior, if any, is taken on the first call)
    demand: tuple[tuple[float, float], ...] = ()  # (time, arrivals per second of the whole application)
    scaled_down_at: float | None = None  # when the scaler last asked for fewer groups
    starts: StartTracker = field(default_factory=StartTracker)
    deviations: tuple[tuple[float, float], ...] = ()  # (time, demand / its level - 1)
    bursts: BurstMemory = field(default_factory=BurstMemory)  # `bursts.py`
    scrape_times: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # each group's last few, distinct

    @property
    def capacity_per_group(self) -> float | None:
        """First tokens per second one group sustains within the SLO, as far as the scaler knows."""
        return self.capacity.value if self.capacity is not None else None


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
    arrival_rate: float = 0.0  # requests per second reaching the application (served + the queue's growth)
    waiting: float = 0.0  # requests waiting in all groups
    headroom: float = 1.0
    start_seconds: float = 0.0  # the cold start planned with
    capacity_confirmed: bool = True


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
    observation = replace(observation, groups=tuple(_trusted_scrapes(observation.groups, state.history)))
    state = replace(
        state,
        history=_remember(state.history, observation, config),
        scrape_times=_scrape_times(state.scrape_times, observation.groups, config),
    )
    state = replace(
        state,
        starts=track_starts(
            state.starts,
            now,
            [(g.group, g.ready_seconds, g.start_seconds) for g in observation.groups],
            longest=config.longest_group_start_seconds,
        ),
    )
    if state.capacity is None:
        state = replace(state, capacity=CapacityEstimate.from_prior(config.initial_capacity_per_group))
    if not state.recommendations:
        # a fresh (or restarted) scaler knows nothing of the last window: no scale-down before one has passed
        state = replace(state, recommendations=((now, current),))
    decision, state = _decide(spec, observation, state, config)
    if decision.desired_replicas > current:
        state = replace(state, starts=replace(state.starts, scale_up_at=now))
    return decision, state


def _decide(
    spec: AutoscalingSpec, observation: Observation, state: ScalerState, config: ScalerConfig
) -> tuple[Decision, ScalerState]:
    now, current = observation.now, observation.current_replicas
    lo, hi = spec.min_replicas, spec.max_replicas
    # at 0 groups nothing can be scraped and nothing could bring a group back: the scaler itself never goes below 1
    floor = max(lo, 1)

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
    # groups asked for whose leader pod is not there yet (the deployer or the LeaderWorkerSet controller has not made
    # them): starting too. Counted as ready, they made the demand look larger by their share and asked for more.
    unborn = max(0, current - len(observation.groups))
    starting += [GroupSample(UNBORN, None)] * unborn
    warm = [g for g in observation.groups if g.ready_seconds is not None and g.ready_seconds >= warmup]
    fresh = [
        g
        for g in warm
        if g.scraped_at is not None and now - g.scraped_at <= _stale_after(g.group, state.scrape_times, config)
    ]
    counted = {g.group: c for g in fresh if (c := _counted(state.history.get(g.group, ()), g.started_at)) is not None}
    usable = [g for g in fresh if g.group in counted]
    if not usable:
        return _hold_without_data(current, starting, warm, fresh, now, config, state), state

    signals, rate_per_group, requests = _signals(spec, usable, counted, state)
    pressure = _pressure(spec, signals, config)
    steady = not starting and len(usable) == current  # transitions (backlogs, new groups) teach nothing reliable
    # learn only from a breach that has lasted: one spike says nothing about the rate a group sustains
    lasting_s = max(spec.behavior.scale_up_stabilization_seconds, config.window_seconds)
    lasting = state.pressure_since is not None and now - state.pressure_since >= lasting_s
    est = state.capacity or CapacityEstimate.from_prior(config.initial_capacity_per_group)
    ratios = [r for r in (signals.ttft_ratio, signals.itl_ratio) if r is not None]
    worst = max(ratios) if ratios else None
    # a queue that is draining shows the past's latency, not what the current rate costs: it teaches nothing
    draining = signals.arrival_rate < signals.rate_per_group * len(usable) * 0.99
    if steady and (pressure is None or (lasting and worst is not None and worst > 1 and not draining)):
        est = learn_capacity(
            est,
            rate=rate_per_group,
            worst_ratio=worst,
            breach_lasting=lasting,
            requests=requests,
            min_requests=config.min_requests,
            knee_ratio=config.knee_ratio,
            healthy_ratio=config.healthy_ratio,
            explore_factor=config.explore_factor,
            guess_falls_at_once=config.guess_falls_at_once,
        )
    capacity = est.value
    state = replace(state, capacity=est)
    ready = current - unborn - sum(1 for g in observation.groups if g.ready_seconds is None)
    groups_serving = max(ready, len(usable))
    demand = signals.arrival_rate * groups_serving / len(usable)  # the usable groups stand for every ready one
    # A burst's demand is measured right when every group that takes traffic is measured (groups still starting
    # take none; a warming one does): such samples feed a burst's peak (a burst is a transition: groups start for
    # it); a variability sample needs a steady fleet (no group starting).
    measured = len(usable) >= ready
    expected_now = _expected_level(state.demand, now)
    state = _remember_variability(state, now, demand, expected_now, config, steady=steady)
    bursts = track_bursts(
        state.bursts,
        now,
        demand=demand,
        expected=expected_now,
        idle_window=any(d <= 0 for _, d in state.demand),
        steady=steady,
        measured=measured,
        pressure=pressure is not None,
        rate_per_group=rate_per_group,
        over_target_lasting=lasting and worst is not None and worst > 1,
        requests=requests,
        deviation=config.burst_deviation,
        memory_seconds=config.burst_memory_seconds,
    )
    state = _remember_demand(replace(state, bursts=bursts), now, demand, config)
    room = headroom([d for _, d in state.deviations], config.headroom_z, config.max_headroom)
    plan_u = planned_utilization(  # the share of capacity the fleet is planned at
        room,
        len(state.deviations),
        confirmed=est.confirmed,
        target_utilization=config.target_utilization,
        max_utilization=config.max_utilization,
        min_samples=config.min_variability_samples,
    )
    # past it: scale up (hysteresis), never past the capacity itself
    up_u = min(1.0, plan_u * config.high_utilization / config.target_utilization)
    start_s = start_seconds(state.starts, config.group_start_seconds)
    lead = spec.behavior.scale_up_stabilization_seconds + start_s
    expected = demand + _slope(state.demand) * lead
    expected = min(expected, config.max_trend_factor * demand)
    needed = math.ceil(demand / (capacity * plan_u)) if capacity else None
    needed_soon = math.ceil(expected / (capacity * plan_u)) if capacity else None
    no_traffic = requests == 0 and signals.waiting_per_group == 0
    if no_traffic:
        needed = floor  # no traffic at all: the floor is enough
    signals = replace(
        signals,
        capacity_per_group=capacity,
        needed=needed,
        headroom=room,
        start_seconds=start_s,
        capacity_confirmed=est.confirmed,
    )
    # the rise the points support (the slope less its standard errors) over the lead: what a scale-down sizes for
    supported = _supported_load(state, demand, lead, config)
    # a forecast alone does not undo a scale-down of the last window (no flap): only load above the threshold does,
    # or, where the config says so, a rise the points support carrying it there (one a scale-down keeps groups for)
    limit = capacity * up_u * current if capacity else 0.0
    since_down = now - state.scaled_down_at if state.scaled_down_at is not None else None
    after_down = since_down is not None and since_down < _down_window(spec) and demand <= limit
    undone = config.supported_rise_undoes_scale_down and supported > limit
    recently_down = capacity is not None and after_down and not undone
    if pressure is None and capacity and expected > limit and not recently_down:
        # the SLO still holds, but the load will soon break it: act before it does (the early signal that matters)
        load = f"load {demand:.0f} req/s"
        if expected > demand * 1.01:
            load += f", rising to {expected:.0f} req/s in {lead:.0f} s,"
        load += f" > {up_u:.0%} of {current} x {capacity:.1f} req/s = {limit:.0f} req/s"
        if after_down:
            load += (
                f" (a rise its points support, to {supported:.0f} req/s, undoes the scale-down {since_down:.0f} s ago)"
            )
        pressure = Reason.LOAD_ABOVE_CAPACITY, load
    # an exploring estimate never scales down past the rate the groups have actually served comfortably: the
    # knee is found by the load, not by removing groups the cold start would have to bring back
    proven = None if est.confirmed else est.comfortable
    down_needed = _down_needed(state, signals, needed, capacity, requests, supported, plan_u, up_u, proven, config)
    if needed_soon is not None and needed is not None:
        # a rising load counts at what it will be when a new group could serve: no scale-down in a ramp either
        needed = max(needed, needed_soon)
        signals = replace(signals, needed=needed)

    kept = (
        None
        if no_traffic
        else burst_floor(state.bursts, now, capacity, up_u, memory_seconds=config.burst_memory_seconds)
    )
    short = too_short_to_chase(state.bursts, now, start_s)
    if pressure is not None and short is not None and kept is not None:
        # a group asked now serves after this burst: size for the next one (the floor this one's peak sets), and
        # do not record more for the scale-down window to hold
        reason, what = pressure
        since = state.pressure_since if state.pressure_since is not None else now
        lasted = now - since
        target = min(hi, max(2 * current, current + 4, needed or 0), max(current, kept.groups))
        state = _recommend(replace(state, pressure_since=since), now, min(hi, kept.groups), spec)
        if target > current and lasted >= spec.behavior.scale_up_stabilization_seconds:
            state = replace(state, pressure_since=now)
            msg = f"{what} for {lasted:.0f} s, but {short}; for the next: {kept.reason}: {current} → {target} groups"
            return _out(target, current, reason, msg + _capacity_note(signals), signals), state
        msg = f"{what} for {lasted:.0f} s, but {short}; {kept.reason}: hold at {current}"
        return _out(current, current, Reason.SHORT_BURST, msg, signals), state

    if pressure is not None:
        reason, what = pressure
        since = state.pressure_since if state.pressure_since is not None else now
        state = replace(state, pressure_since=since)
        lasted = now - since
        # the queue must drain too, and it stays in the groups that hold it (`sizing.backlog_step`): keep those
        # the backlog will still occupy and add groups for every arrival, at the learned capacity or, before one is
        # known, at the rate the (saturated) groups serve now
        per_group = capacity or (rate_per_group if reason is not Reason.LOAD_ABOVE_CAPACITY else 0.0)
        step = None
        if per_group > 0 and signals.waiting > 0:
            step = backlog_step(
                arrivals=demand,
                waiting=signals.waiting,
                serving_groups=groups_serving,
                per_group=per_group,
                plan_u=plan_u,
                lead_seconds=start_s,
                drain_seconds=config.drain_seconds,
            )
        burst_needed = step.groups if step is not None else None
        wanted = max(needed or 0, burst_needed or 0)
        state = _recommend(state, now, min(hi, max(current, wanted)), spec)
        if lasted < spec.behavior.scale_up_stabilization_seconds:
            msg = f"{what} for {lasted:.0f} s < {spec.behavior.scale_up_stabilization_seconds} s: hold at {current}"
            return _out(current, current, Reason.BREACH_NOT_SUSTAINED, msg, signals), state
        if current >= hi:
            msg = f"{what} for {lasted:.0f} s but at maxReplicas {hi}: hold at {current}"
            return _out(current, current, Reason.AT_MAX_REPLICAS, msg, signals), state
        if starting and wanted <= current:
            msg = f"{what} for {lasted:.0f} s; {_still_starting(starting)}: hold at {current}"
            return _out(current, current, Reason.SCALE_UP_IN_PROGRESS, msg, signals), state
        # at most doubling (+4) per step, as the HPA, but never less than the measured arrivals need by themselves
        step_cap = max(2 * current, current + 4, needed or 0)
        target = min(hi, step_cap, max(current + 1, wanted))
        state = _recommend(replace(state, pressure_since=now), now, target, spec)
        msg = f"{what} for {lasted:.0f} s: {current} → {target} groups{_capacity_note(signals)}"
        if step is not None and step.groups > (needed or 0):
            msg += (
                f"; arrivals {demand:.0f} req/s need {step.groups - step.held} new-load groups and "
                f"{signals.waiting:.0f} waiting ({step.backlog_then:.0f} in {start_s:.0f} s) keep {step.held} "
                f"busy for {config.drain_seconds:.0f} s (a queue stays where it was sent): {step.groups}"
            )
        return _out(target, current, reason, msg, signals), state

    pressure_ended = state.pressure_since is not None
    state = replace(state, pressure_since=None)
    recommendation = min(hi, max(floor, down_needed if down_needed is not None else current))
    unbursted = recommendation
    released = None
    if kept is not None:
        recommendation = max(recommendation, min(hi, kept.groups))
        if state.bursts.base is None and pressure_ended:
            # the burst is over and the pressure it brought (its queue) just ended: what was asked for it (its
            # backlog's groups, its rise carried over the cold start) gives way to what its peak needs, the floor,
            # which is kept; the window holds what was recommended since, and what a pressure after the burst asked
            # for, as usual
            recommendations, released = release_to_floor(state.bursts, state.recommendations, recommendation)
            state = replace(state, recommendations=recommendations)
    state = _recommend(state, now, recommendation, spec)
    window = _down_window(spec)
    stabilized = max(r for _, r in state.recommendations)
    health = _health_text(spec, signals, requests)
    if stabilized < current and not starting:
        msg = f"{health}; highest recommendation over {window} s is {stabilized}: {current} → {stabilized} groups"
        if released is not None:
            msg += f" (the {released} asked for during the last burst give way to its floor)"
        if kept is not None and unbursted < recommendation == stabilized:
            msg += f" ({unbursted} would do, but {kept.reason})"
        state = replace(state, scaled_down_at=now)
        return _out(stabilized, current, Reason.LOAD_DECREASED, msg + _capacity_note(signals), signals), state
    if kept is not None and unbursted < current <= recommendation:
        msg = f"{health}; {unbursted} groups would do, but {kept.reason}: hold at {current}"
        if current < recommendation:
            msg += " (the floor only keeps groups from going)"
        return _out(current, current, Reason.RECENT_BURST, msg, signals), state
    if stabilized < current and starting:
        msg = f"{health}; {stabilized} groups would do, but {_still_starting(starting)}: hold"
        return _out(current, current, Reason.SCALE_UP_IN_PROGRESS, msg, signals), state
    if recommendation < current:
        msg = f"{health}; {recommendation} groups would do, but the last {window} s asked for {stabilized}: hold"
        return _out(current, current, Reason.DOWNSCALE_STABILIZING, msg, signals), state
    return _out(current, current, Reason.WITHIN_SLO, f"{health}: hold at {current} groups", signals), state


UNBORN = ""  # the name of a group asked for that has no leader pod yet


def _still_starting(starting: Sequence[GroupSample]) -> str:
    named = [g.group for g in starting if g.group != UNBORN]
    unborn = len(starting) - len(named)
    names = ", ".join([*named, *([f"{unborn} without a pod yet"] if unborn else [])])
    return f"{len(starting)} group(s) still starting ({names})"


def _out(desired: int, current: int, reason: Reason, message: str, signals: Signals | None = None) -> Decision:
    direction = (
        ScaleDirection.UP if desired > current else ScaleDirection.DOWN if desired < current else ScaleDirection.HOLD
    )
    return Decision(desired, current, direction, reason, message, signals)


LATENCIES = frozenset({UnifiedMetric.TIME_TO_FIRST_TOKEN_SECONDS, UnifiedMetric.INTER_TOKEN_LATENCY_SECONDS})


def _trusted_scrapes(
    groups: Sequence[GroupSample], history: Mapping[str, tuple[tuple[float, MetricsSnapshot], ...]]
) -> Iterator[GroupSample]:
    """A scrape the decision cannot count from is a failed scrape: the group keeps its last whole one and goes stale
    if no whole one follows, or, without one yet, counts as not scraped. Counted as "no histogram", the next
    increase would be every request the process ever served (a phantom load of thousands of req/s, a scale-up to
    the maximum and a capacity learned from it). Failed are: an answer with nothing of the runtime's in it (an
    empty Prometheus vector, a proxy's HTML page: never an idle runtime, which prints its gauges); a latency
    histogram the text printed but the parser refused (garbled, cut off); and one the group printed before but not
    now, unless its runtime started since (a histogram lives as long as its process; a new one has observed
    nothing yet, and prints none until its first request)."""
    for g in groups:
        entries = history.get(g.group, ())
        if g.metrics is not None and g.scraped_at is not None and _failed(g.metrics, entries, g.started_at):
            g = (
                replace(g, scraped_at=entries[-1][0], metrics=entries[-1][1])
                if entries
                else replace(g, scraped_at=None, metrics=None)
            )
        yield g


def _failed(
    metrics: MetricsSnapshot, entries: Sequence[tuple[float, MetricsSnapshot]], started_at: float | None
) -> bool:
    if metrics.blank or metrics.refused & LATENCIES:
        return True
    if not entries:
        return False
    at, last = entries[-1]
    restarted = started_at is not None and started_at > at
    vanished = (last.time_to_first_token is not None and metrics.time_to_first_token is None) or (
        last.inter_token_latency is not None and metrics.inter_token_latency is None
    )
    return vanished and not restarted


def _counted(
    entries: Sequence[tuple[float, MetricsSnapshot]], started_at: float | None
) -> tuple[Histogram | None, Histogram | None] | None:
    """The TTFT and ITL observations of a group's window (first to last kept scrape), or None when they cannot be
    told: fewer than two scrapes, or a histogram that appeared without an earlier one to count from in a process
    older than that earlier scrape (it was idle then, or that scrape missed the histogram: its counts may be the
    process's whole life). A runtime that started after the window's first scrape counts all it printed."""
    if len(entries) < 2:
        return None
    (t0, base), (_, last) = entries[0], entries[-1]
    if started_at is not None and started_at > t0:
        return last.time_to_first_token, last.inter_token_latency
    ttft = (base.time_to_first_token, last.time_to_first_token)
    itl = (base.inter_token_latency, last.inter_token_latency)
    if any(before is None and after is not None for before, after in (ttft, itl)):
        return None
    return histogram_increase(*ttft), histogram_increase(*itl)


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


def _scrape_times(
    times: Mapping[str, tuple[float, ...]], groups: Sequence[GroupSample], config: ScalerConfig
) -> dict[str, tuple[float, ...]]:
    """The last `spacing_scrapes` distinct times each present group's kept scrapes were made at (a scrape answered
    again, or a failed one replaced by the last whole one, adds none)."""
    out: dict[str, tuple[float, ...]] = {}
    for g in groups:
        kept = times.get(g.group, ())
        if g.scraped_at is not None and g.metrics is not None and (not kept or g.scraped_at > kept[-1]):
            kept = (*kept, g.scraped_at)[-config.spacing_scrapes :]
        if kept:
            out[g.group] = kept
    return out


def _spacing(times: Sequence[float]) -> float | None:
    return min((b - a for a, b in itertools.pairwise(times)), default=None)


def _stale_after(group: str, times: Mapping[str, tuple[float, ...]], config: ScalerConfig) -> float:
    """How old the group's newest scrape may be and still count (`ScalerConfig.stale_after_seconds`). A group with
    a single scrape so far goes by the shortest spacing of the application's other groups (one Prometheus scrapes
    them all); without any, by the longest limit: a single scrape gives no rates to decide on anyway (`_counted`),
    and a fresh scaler's first Prometheus answer may be up to a scrape interval old (it read as stale, then not)."""
    spacing = _spacing(times.get(group, ()))
    if spacing is None:
        spacing = min((s for t in times.values() if (s := _spacing(t)) is not None), default=None)
    if spacing is None:
        return max(config.stale_after_seconds, config.longest_stale_after_seconds)
    stretched = min(config.stale_after_scrapes * spacing, config.longest_stale_after_seconds)
    return max(config.stale_after_seconds, stretched)


def _hold_without_data(
    current: int,
    starting: Sequence[GroupSample],
    warm: Sequence[GroupSample],
    fresh: Sequence[GroupSample],
    now: float,
    config: ScalerConfig,
    state: ScalerState,
) -> Decision:
    history = state.history
    if warm and not fresh and any(g.scraped_at is not None for g in warm):
        age, newest = min((now - g.scraped_at, g.group) for g in warm if g.scraped_at is not None)
        limit = _stale_after(newest, state.scrape_times, config)
        last = f"last scrape {age:.0f} s ago > {limit:.0f} s"
        msg = f"metrics of {len(warm)} group(s) are stale ({last}): hold at {current}"
        return _out(current, current, Reason.STALE_METRICS, msg)
    if starting and not warm:
        msg = f"all {len(starting)} group(s) are starting or warming up; their samples are ignored: hold at {current}"
        return _out(current, current, Reason.WARMING_UP, msg)
    if fresh and all(len(history.get(g.group, ())) < 2 for g in fresh):
        msg = f"only one scrape so far from {len(fresh)} group(s), need two for rates: hold at {current}"
        return _out(current, current, Reason.NO_METRICS, msg)
    if fresh:
        msg = (
            f"the latency histograms of {len(fresh)} group(s) appeared without an earlier scrape to count from "
            f"(their counts may be the runtime's whole life), need one more for rates: hold at {current}"
        )
        return _out(current, current, Reason.NO_METRICS, msg)
    return _out(current, current, Reason.NO_METRICS, f"no metrics from any group: hold at {current}")


def _signals(
    spec: AutoscalingSpec,
    usable: Sequence[GroupSample],
    counted: Mapping[str, tuple[Histogram | None, Histogram | None]],
    state: ScalerState,
) -> tuple[Signals, float, float]:
    ttft: list[Histogram | None] = []
    itl: list[Histogram | None] = []
    kv: list[float] = []
    rate = waiting = requests = growth = 0.0
    for g in usable:
        entries = state.history[g.group]
        (t0, base), (t1, last) = entries[0], entries[-1]
        dt = max(t1 - t0, 1e-9)
        ttft_inc, itl_inc = counted[g.group]
        ttft.append(ttft_inc)
        itl.append(itl_inc)
        started = ttft_inc.count if ttft_inc is not None else 0.0
        requests += started
        rate += started / dt
        waiting += last.requests_waiting or 0.0
        growth += ((last.requests_waiting or 0.0) - (base.requests_waiting or 0.0)) / dt
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
        arrival_rate=max(0.0, rate + growth),  # arrivals = started + the queue's growth
        waiting=waiting,
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


def _expected_level(demand: Sequence[tuple[float, float]], now: float) -> float | None:
    """What the trend window expected the demand to be at `now`: the higher of its median and its least-squares line
    carried to now (a steady ramp or a fall is no burst); None with fewer than three points."""
    if len(demand) < 3:
        return None
    line = level(demand) + _slope(demand) * (now - demand[-1][0])
    return max(line, statistics.median(d for _, d in demand))


def _remember_variability(
    state: ScalerState, now: float, demand: float, expected: float | None, config: ScalerConfig, *, steady: bool
) -> ScalerState:
    """Record how far this demand lies above what the trend window `expected` (only in a steady state: the headroom
    is learned from these deviations)."""
    horizon = now - config.variability_window_seconds
    deviations = tuple((t, d) for t, d in state.deviations if t >= horizon)
    if steady and expected is not None and expected > 0:
        deviations = (*deviations, (now, max(0.0, demand / expected - 1.0)))
    return replace(state, deviations=deviations)


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


def _supported_load(state: ScalerState, demand: float, lead: float, config: ScalerConfig) -> float:
    """The load's level plus the rise over `lead` the points support (`ScalerConfig.scale_down_trend_confidence`),
    at most `max_trend_factor` x `demand`."""
    rising = level(state.demand) + _slope(state.demand, config.scale_down_trend_confidence) * lead
    return min(rising, config.max_trend_factor * demand)


def _down_needed(
    state: ScalerState,
    signals: Signals,
    needed: int | None,
    capacity: float | None,
    requests: float,
    supported: float,
    plan_u: float,
    up_u: float,
    proven: float | None,
    config: ScalerConfig,
) -> int | None:
    """The groups to recommend for scaling down: the load's level plus the rise the points support (`supported`),
    at the scale-up threshold `up_u` when the percentiles are comfortably under target (else at the planned
    `plan_u`)."""
    if requests == 0 and signals.waiting_per_group == 0:
        return needed  # no traffic at all: the floor, whether or not a capacity was learned
    if not capacity or needed is None:
        return None
    ratios = [r for r in (signals.ttft_ratio, signals.itl_ratio) if r is not None]
    healthy = bool(ratios) and max(ratios) <= config.healthy_ratio
    # comfortably within the SLO: down to the scale-up threshold, or to the plan where that is closer to capacity
    per_group = capacity * (min(up_u, max(config.healthy_utilization, plan_u)) if healthy else plan_u)
    if proven is not None:
        per_group = min(per_group, proven)
    now_needed = min(needed, math.ceil(level(state.demand) / per_group)) if requests > 0 else needed
    return max(now_needed, math.ceil(supported / per_group))


def _down_window(spec: AutoscalingSpec) -> int:
    """The scale-down window, never past the API's bound (a spec built around the model's validation, an object
    stored before the bound): one recommendation per tick is kept for it."""
    return min(spec.behavior.scale_down_stabilization_seconds, MAX_SCALE_DOWN_STABILIZATION_SECONDS)


def _recommend(state: ScalerState, now: float, replicas: int, spec: AutoscalingSpec) -> ScalerState:
    horizon = now - _down_window(spec)
    kept = tuple((t, r) for t, r in state.recommendations if t > horizon and t != now)
    return replace(state, recommendations=(*kept, (now, replicas)))


def _health_text(spec: AutoscalingSpec, s: Signals, requests: float) -> str:
    """The percentiles against their targets; without one measured, what the window did hold."""
    parts = []
    if spec.slo.time_to_first_token is not None and s.ttft_seconds is not None:
        t = spec.slo.time_to_first_token
        parts.append(f"p{t.percentile:g} TTFT {s.ttft_seconds * 1000:.0f} ms ≤ {t.target_milliseconds:g} ms")
    if spec.slo.inter_token_latency is not None and s.itl_seconds is not None:
        t = spec.slo.inter_token_latency
        parts.append(f"p{t.percentile:g} ITL {s.itl_seconds * 1000:.1f} ms ≤ {t.target_milliseconds:g} ms")
    if parts:
        return ", ".join(parts)
    if requests <= 0:
        return "no requests in the window"
    # requests flowed, but no percentile is held to a target: none is set (an object stored before the API
    # refused that), or the runtime printed no histogram of the one set
    without = "no latency target set" if not _targets(spec) else f"no {' or '.join(_targets(spec))} measured"
    return f"{requests:.0f} requests in the window, {without}"


def _targets(spec: AutoscalingSpec) -> list[str]:
    slo = spec.slo
    return [name for name, t in (("TTFT", slo.time_to_first_token), ("ITL", slo.inter_token_latency)) if t]


def _capacity_note(s: Signals) -> str:
    if s.capacity_per_group is None or s.needed is None:
        return ""
    guess = "" if s.capacity_confirmed else " (exploring)"
    room = f", headroom x{s.headroom:.2f}" if s.headroom > 1.0 else ""
    return (
        f" ({s.rate_per_group:.1f} req/s per group, capacity ≈ {s.capacity_per_group:.1f}{guess}{room}, "
        f"cold start {s.start_seconds:.0f} s → {s.needed} needed)"
    )
