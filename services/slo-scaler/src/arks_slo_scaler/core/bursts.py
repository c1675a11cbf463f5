"""Bursts: what the slo-scaler remembers of them, the floor they leave, and when one is too short to chase. Pure.

docs/autoscaling.md §2, steps 10 and 11, has the long form; in short:
- A burst starts when the demand, in a steady fleet, lies more than `deviation` above what the trend window
  expected; it lasts until the demand is back within `deviation` of the level it rose from and, for its peak, until
  the pressure it brought (a breach, a queue) is over. Traffic arriving on an idle application is a start, not a
  burst.
- The floor: once bursts recur (two starts seen), scale-down keeps what the highest burst of the last 1.5 x (the
  longest gap between starts, at most `memory_seconds`) needed at the scale-up threshold. A first burst counts once
  it is over if it stood out of a longer calm. A burst's requests count at the rate a group served of them while
  a burst held its latency over target, where that is below the capacity (heavier requests than the calm's).
- What was asked for during a burst gives way to its floor once its pressure ends (`release_to_floor`); what a
  pressure asked for after the burst and its pressure were over does not (the floor never saw its demand).
- While bursts recur shorter than the cold start, a group asked for during one would serve after it
  (`too_short_to_chase`): the decision holds at the floor instead of chasing the burst.

Every function takes the old `BurstMemory` and returns the new one or a verdict; nothing here reads a clock.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, replace

__all__ = [
    "BurstFloor",
    "BurstMemory",
    "burst_floor",
    "release_to_floor",
    "too_short_to_chase",
    "track_bursts",
]

# how many burst starts and lengths are remembered
KEPT_BURSTS = 5


@dataclass(frozen=True)
class BurstMemory:
    """What the scaler remembers of bursts between calls. Start with `BurstMemory()`."""

    demand: tuple[tuple[float, float], ...] = ()  # (time, demand) while the demand was a burst, measured right
    starts: tuple[float, ...] = ()  # when the last few bursts started
    base: float | None = None  # the level the current burst rose from; None outside a burst
    lengths: tuple[float, ...] = ()  # how long the last few bursts lasted, start to end
    pressure: bool = False  # a burst brought pressure (a breach, a queue) that is not over yet
    # when the last burst and the pressure it brought were over (None while one is on): what was asked after that
    # was asked for other pressure, which the burst's floor never saw
    ended_at: float | None = None
    # (time, req/s per group) the groups served while a burst held their latency over its target for a while: what
    # a group carries of a burst's requests, which may be heavier than the calm's
    served_rates: tuple[tuple[float, float], ...] = ()
    calm_since: float | None = None  # since when traffic has been measured: the calm before a first burst


@dataclass(frozen=True)
class BurstFloor:
    """The groups recent bursts need kept, and a sentence saying why (for the decision's message)."""

    groups: int
    reason: str


def track_bursts(
    memory: BurstMemory,
    now: float,
    *,
    demand: float,
    expected: float | None,
    idle_window: bool,
    steady: bool,
    measured: bool,
    pressure: bool,
    rate_per_group: float,
    over_target_lasting: bool,
    requests: float,
    deviation: float,
    memory_seconds: float,
) -> BurstMemory:
    """Follow bursts through one observation at `now`.

    `demand` is the application's arrival rate, `expected` what the trend window expected of it (None with too few
    points), `idle_window` whether the trend window saw no traffic at some point. A burst starts only in a `steady`
    fleet (no group starting); it ends, and its demand is recorded, only when `measured` right (every group that
    takes traffic is measured): a burst is a transition, groups start for it and its peak comes while they do. For
    its peak a burst lasts until the `pressure` it brought is over: a second burst that comes while the first one's
    queue drains and its groups start (no steady fleet, so no start of its own) is part of it, and the floor it
    leaves must keep what that one needed too.

    Also remembered: the `rate_per_group` served while a burst holds the latency over its target
    (`over_target_lasting`) and measured right, for `memory_seconds`; and, until a first burst, since when traffic
    (`requests` > 0 in the window) has been measured."""
    memory = _follow(
        memory,
        now,
        demand=demand,
        expected=expected,
        idle_window=idle_window,
        steady=steady,
        measured=measured,
        pressure=pressure,
        deviation=deviation,
        memory_seconds=memory_seconds,
    )
    saturated = memory.base is not None and measured and over_target_lasting
    horizon = now - memory_seconds
    rates = tuple((t, r) for t, r in memory.served_rates if t >= horizon)
    memory = replace(memory, served_rates=(*rates, (now, rate_per_group)) if saturated else rates)
    if not memory.starts:  # the calm a first burst stands out of is measured traffic, not idle or blind time
        # `is None`, not falsy: a calm measured from time 0 (a clock that starts there) is a calm
        since = memory.calm_since if memory.calm_since is not None else now
        memory = replace(memory, calm_since=None if requests == 0 else since)
    return memory


def _follow(
    memory: BurstMemory,
    now: float,
    *,
    demand: float,
    expected: float | None,
    idle_window: bool,
    steady: bool,
    measured: bool,
    pressure: bool,
    deviation: float,
    memory_seconds: float,
) -> BurstMemory:
    """A burst's start, end and demand samples (`track_bursts`)."""
    base, starts, lengths = memory.base, memory.starts, memory.lengths
    # traffic arriving where there was none is a start, not a burst: counted as one it would never end (the level it
    # "rose from" is the idle window's), and no later burst could start
    rose = expected is not None and expected > 0 and not idle_window and demand > expected * (1 + deviation)
    if base is None and steady and rose and expected is not None:
        base = expected  # a burst starts: remember the level it rose from, until the demand is back near it
        starts = (*starts, now)[-KEPT_BURSTS:]
    elif base is not None and measured and demand <= base * (1 + deviation):
        base = None
        if starts:
            lengths = (*lengths, now - starts[-1])[-KEPT_BURSTS:]
    burst_pressure = pressure and (base is not None or memory.pressure)
    ended_at = memory.ended_at
    if base is not None and memory.base is None:
        ended_at = None  # a burst starts: on until it and its pressure are over
    elif (memory.base is not None or memory.pressure) and base is None and not burst_pressure:
        ended_at = now
    horizon = now - memory_seconds
    samples = tuple((t, d) for t, d in memory.demand if t >= horizon)
    if (base is not None or burst_pressure) and measured:
        samples = (*samples, (now, demand))
    return replace(
        memory, demand=samples, base=base, starts=starts, lengths=lengths, pressure=burst_pressure, ended_at=ended_at
    )


def burst_floor(
    memory: BurstMemory, now: float, capacity: float | None, up_u: float, *, memory_seconds: float
) -> BurstFloor | None:
    """The groups the highest burst of the memory needed at the scale-up threshold `up_u` (with the headroom), and a
    sentence saying so; None when no burst is to be kept.

    Bursts recur when two have started: kept for 1.5 x the longest gap between starts. A first burst that is over
    counts too when it stood out of a longer calm (it lasted less than the time watched before it): one burst in
    that much calm may come again as soon, so it is kept for 1.5 x that calm. A rise that outlasted the calm before
    it is a change of level, not a burst to keep. Either memory is at most `memory_seconds`.

    Capacity is counted in requests per second, and a burst's requests may be heavier than the calm's (large
    prompts): where the groups served fewer of them per second than the capacity while a burst held their latency
    over its target (the median of those samples: a window on a burst's rise shows less), that rate is what a
    group carries of one (kept for `memory_seconds`: the requests' weight is the workload's, not the bursts'
    timing)."""
    starts = memory.starts
    if not starts or not capacity:
        return None
    if len(starts) >= 2:
        gap = max(b - a for a, b in itertools.pairwise(starts))
        why = f"bursts recur (every ≤ {gap:.0f} s)"
    else:
        calm = starts[0] - (memory.calm_since if memory.calm_since is not None else starts[0])
        lasted = memory.lengths[-1] if memory.lengths else math.inf
        if memory.base is not None or not memory.demand or lasted >= calm:
            return None  # ongoing, forgotten, or longer than the calm before it: maybe a new level
        gap = calm
        why = f"a burst that stood out of {calm:.0f} s of calm may come again as soon"
    kept_for = min(memory_seconds, 1.5 * gap)
    recent = [(t, d) for t, d in memory.demand if now - t <= kept_for]
    if not recent:
        return None
    when, peak = max(recent, key=lambda b: b[1])
    served = statistics.median(r for _, r in memory.served_rates) if memory.served_rates else None
    # none served (a stuck runtime, garbled counts: 0 req/s while latency breached) says nothing of a burst's weight
    per_group = served if served is not None and 0 < served < capacity else capacity
    groups = math.ceil(peak / (per_group * up_u))
    heavier = "" if per_group == capacity else f" at the {served:.1f} req/s per group they served of a burst"
    return BurstFloor(
        groups,
        f"{why} and one {now - when:.0f} s ago ({peak:.0f} req/s) needed {groups} groups{heavier} "
        f"(kept for {kept_for:.0f} s)",
    )


def release_to_floor(
    memory: BurstMemory, recommendations: tuple[tuple[float, int], ...], floor: int
) -> tuple[tuple[tuple[float, int], ...], int | None]:
    """The (time, groups) recommendations made while the last burst was on (from its start until it and the pressure
    it brought were over) capped at `floor`; and the highest one capped, or None when none was above it (then the
    recommendations are returned as they were). What was asked after it is left to the window: a pressure that came
    once the burst was over (a second spike while the groups asked for the first still start, no burst of its own;
    in PD's decode also prefill's backlog, let go when prefill's groups come up) is not the burst's, and its demand
    is not in the floor."""
    since = memory.starts[-1]
    until = memory.ended_at if memory.ended_at is not None else math.inf

    def during(t: float) -> bool:
        return since <= t < until

    above = [r for t, r in recommendations if during(t) and r > floor]
    if not above:
        return recommendations, None
    return tuple((t, min(r, floor) if during(t) else r) for t, r in recommendations), max(above)


def too_short_to_chase(memory: BurstMemory, now: float, cold_start_seconds: float) -> str | None:
    """Why a group asked for now would serve after the burst that asks for it, or None: bursts recur, the recent
    ones lasted less than a new group takes to serve (their median), and the last one started less than that ago
    (it is on, or just over and its rise still in the trend)."""
    if len(memory.starts) < 2 or not memory.lengths:
        return None
    typical = statistics.median(memory.lengths)
    if typical >= cold_start_seconds or now - memory.starts[-1] >= cold_start_seconds:
        return None
    n = len(memory.lengths)
    return (
        f"bursts here last {typical:.0f} s ({'the last one' if n == 1 else f'the median of the last {n}'}), less "
        f"than the {cold_start_seconds:.0f} s a new group takes to serve: one asked now would come after this burst"
    )
