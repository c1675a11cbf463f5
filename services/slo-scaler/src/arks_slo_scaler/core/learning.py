"""What the slo-scaler learns from what it observes: a group's capacity, how long a new group takes to serve, and
how bursty the load is. Pure: every function takes the old state and returns the new one.

- Capacity (first tokens per second one group sustains within the SLO). With an operator's prior it starts there;
  without one it explores: from the highest rate the groups served comfortably, it guesses where the knee is as if
  latency grew in proportion to load, and it is confirmed the first time the latency nears the SLO (a percentile
  past `knee_ratio` of its target at a rate near the highest served comfortably) or breaks it. Latency is flat
  until a sharp knee, so a rate served comfortably is only a lower bound; the knee itself is the measurement.
- Cold start: the time from a scale-up to the first sample in which a group it added is ready, and for a group no
  scale-up of this scaler explains (those already there when it starts) the group's own creation-to-Ready time;
  the median of the last few, the configured guess until one is seen.
- Burstiness (`headroom`): the root mean square of how far demand samples lay above what the recent window
  expected sets the headroom the fleet is planned with (decide.py records the deviations, bursts.py the bursts).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

__all__ = [
    "CapacityEstimate",
    "StartTracker",
    "headroom",
    "learn_capacity",
    "level",
    "start_seconds",
    "track_starts",
]


# a group's pod made this close to a scale-up belongs to it (the controllers' lag and the clocks' skew); one made
# further from it (a group recreated long after, or there before it) is timed by its own pod
ATTRIBUTION_SECONDS = 120.0

# an exploring estimate is a guess: plan with 95% of it until the knee or a breach confirms where the capacity is
UNCONFIRMED_DISCOUNT = 0.95


@dataclass(frozen=True)
class CapacityEstimate:
    value: float | None = None  # first tokens per second per group the scaler plans with; None: nothing known yet
    confirmed: bool = False  # from an operator's prior or a knee/breach the scaler saw (else: an exploring guess)
    comfortable: float = 0.0  # highest per-group rate served with every percentile under the knee ratio
    guess: float = 0.0  # where the knee would be if latency grew in proportion to load (smoothed)

    @classmethod
    def from_prior(cls, prior: float | None) -> CapacityEstimate:
        return cls(value=prior, confirmed=prior is not None)


def learn_capacity(
    est: CapacityEstimate,
    *,
    rate: float,
    worst_ratio: float | None,
    breach_lasting: bool,
    requests: float,
    min_requests: float,
    knee_ratio: float,
    healthy_ratio: float,
    explore_factor: float,
    guess_falls_at_once: bool = False,
) -> CapacityEstimate:
    """One steady observation of `rate` per group at `worst_ratio` (the highest percentile / target) -> new estimate.

    A breach that lasted lowers a confirmed estimate by at most 10% at a time (one burst must not double the fleet)
    and sets an unconfirmed one to 95% of the rate it broke at. The knee (a percentile past `knee_ratio` of its
    target at a rate near the highest served comfortably) confirms an exploring estimate at that rate at once: on a
    ramp the knee is crossed within seconds. A rate served comfortably raises a confirmed estimate slowly (creep).
    An exploring estimate is the highest comfortable rate or, if higher, where the knee would be if the latency grew
    in proportion to the load (rate x knee_ratio / worst_ratio, at most `explore_factor` x the highest comfortable
    rate; smoothed over rates near the highest, less 5%): below the knee latency grows
    no faster than that where it has a fixed part (prefill, network), so the guess errs low at low load and nears
    the knee as the load does. With `guess_falls_at_once` a guess lower than the smoothed one replaces it at once
    (it still rises smoothed): where the latency is flat until a queueing knee (a prefill server's TTFT), the flat
    part guesses up to `explore_factor` x the rate served, and the first windows in which the latency rises are the
    knee itself, met by a load that is still rising; smoothing them in left the old guess above the knee for the
    minutes the load took to walk into it."""
    if requests < min_requests or worst_ratio is None:
        return est
    if worst_ratio > 1:
        if not breach_lasting:
            return est
        if est.confirmed and est.value is not None:
            return replace(est, value=min(est.value, max(0.95 * rate, 0.9 * est.value)))
        return replace(est, value=0.95 * rate, confirmed=True)
    if worst_ratio >= knee_ratio:
        # near the knee at a rate at least close to the highest served comfortably (a spike at a low rate is noise)
        if est.confirmed or rate < 0.9 * est.comfortable:
            return est
        return CapacityEstimate(value=rate, confirmed=True, comfortable=est.comfortable)
    comfortable = max(est.comfortable, rate)
    if not est.confirmed:
        guess = est.guess
        if rate >= 0.95 * comfortable:  # only rates at the frontier say much about where the knee is
            new = min(rate * knee_ratio / max(worst_ratio, 1e-3), explore_factor * comfortable)
            falls = guess_falls_at_once and new < guess
            guess = new if guess == 0 or falls else 0.7 * guess + 0.3 * new
        explored = max(comfortable, UNCONFIRMED_DISCOUNT * guess)
        return CapacityEstimate(value=explored, comfortable=comfortable, guess=guess)
    value = est.value
    if value is not None and worst_ratio <= healthy_ratio and rate > value:
        # creep up only: the latency knee is sharp, and a rate served for a few seconds is not a sustained one
        value = value + 0.05 * (rate - value)
    return replace(est, value=value, comfortable=comfortable)


@dataclass(frozen=True)
class StartTracker:
    """Groups seen so far, the scale-up each new one came from, and the cold starts measured (newest last)."""

    known: frozenset[str] = frozenset()
    # group -> when the scale-up that added it was asked; None for a group no scale-up of ours explains (seen
    # starting before any, or after a restart): its own timestamps tell its start once it is Ready
    pending: Mapping[str, float | None] = field(default_factory=dict)
    observed: tuple[float, ...] = ()
    scale_up_at: float | None = None


def track_starts(
    tracker: StartTracker,
    now: float,
    groups: Sequence[tuple[str, float | None, float | None]],
    keep: int = 5,
    longest: float = math.inf,
) -> StartTracker:
    """Update from this observation's (group, seconds Ready or None while starting, its own creation-to-Ready
    seconds or None) triples.

    A group that appears after a scale-up belongs to it (unless its own pod was made more than
    `ATTRIBUTION_SECONDS` away from it); the first time it is seen Ready, its start is measured as (now - seconds
    Ready) - (when the scale-up was asked). A group no scale-up explains (the ones already there when the scaler
    starts, one recreated long after the last scale-up) counts with its own creation-to-Ready time, when known and
    at most `longest`. Groups that leave are forgotten."""
    present = {name for name, _, _ in groups}
    pending = {name: t for name, t in tracker.pending.items() if name in present}
    observed = list(tracker.observed)
    for name, ready_seconds, own_start in groups:
        if name not in tracker.known:
            pending.setdefault(name, tracker.scale_up_at)
        if ready_seconds is None or name not in pending:
            continue
        asked = pending.pop(name)
        if asked is not None and own_start is not None:
            created = now - ready_seconds - own_start
            if abs(created - asked) > ATTRIBUTION_SECONDS:
                asked = None  # its pod was made long after (or before) that scale-up: a group back for another reason
        took = own_start if asked is None else now - ready_seconds - asked
        # the cap only doubts a group's own timestamps: a scale-up that waited long for GPUs did take that long
        if took is not None and took >= 0 and (asked is not None or took <= longest):
            observed.append(took)
    return replace(tracker, known=frozenset(present), pending=pending, observed=tuple(observed[-keep:]))


def start_seconds(tracker: StartTracker, default: float) -> float:
    """The cold start to plan with: the median of the measured ones, or `default` before any was measured."""
    return statistics.median(tracker.observed) if tracker.observed else default


def headroom(deviations: Sequence[float], z: float, most: float) -> float:
    """1 + z x the root mean square of the relative deviations of demand from its level, at most `most`."""
    if not deviations:
        return 1.0
    rms = math.sqrt(sum(d * d for d in deviations) / len(deviations))
    return min(most, 1.0 + z * rms)


def level(points: Sequence[tuple[float, float]]) -> float:
    """The demand now as the least-squares line through the points says (less noisy than the last point)."""
    n = len(points)
    if n == 0:
        return 0.0
    if n < 3:
        return points[-1][1]
    mt = sum(t for t, _ in points) / n
    md = sum(d for _, d in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var <= 0:
        return md
    slope = sum((t - mt) * (d - md) for t, d in points) / var
    return max(0.0, md + slope * (points[-1][0] - mt))
