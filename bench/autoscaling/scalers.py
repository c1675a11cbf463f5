"""The scalers the benchmark compares: fixed replicas, a Kubernetes-HPA on concurrency, a Knative-KPA-style scaler,
and ours (arks_slo_scaler.core.decide). Written here from the published algorithms, not copied.

One job: turn what the simulator's scrapes show (`GroupSample`s, every 15 s) into a replica count. All of them see
the same parsed vLLM metrics; none sees the simulator's internals.
- HPA (Kubernetes docs, "Horizontal Pod Autoscaling", algorithm details): desired = ceil(ready x average / target)
  on the per-group concurrency (running + waiting), no change within a 10% tolerance, groups not ready yet counted
  at 0 when scaling up (and the scale-up dropped if that reverses it), scale-up at most max(2x, +4) per sync,
  scale-down to the highest recommendation of the last 300 s, 15 s sync.
- KPA (Knative Serving docs, "Autoscaling concepts" / KPA): desired = ceil(total concurrency / target) averaged
  over a 60 s stable window and a 6 s panic window; panic when the panic desire reaches 2x the ready groups; in
  panic no scale-down; panic ends after a stable window without the condition; scale-down at most halves. With
  15 s scrapes the panic window holds only the latest scrape.
- Start-up, the same for every autoscaler: each starts with its scale-down memory seeded with the starting size (as
  ours does), so none scales down before `seed_window_s` (300 s) has passed: the HPA's recommendation window holds
  the starting size at t = 0; the KPA keeps at least the starting size until then.
- Clairvoyant: knows the future arrivals. Every minute gets ceil(highest 20 s arrival rate within it / (utilization
  x calibrated capacity)) groups, started a cold start ahead; the benchmark bisects the utilization for the
  cheapest such schedule that keeps 99% of the requests within the SLO.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from arks_common.api.application import AutoscalingSpec
from arks_slo_scaler.core.decide import Decision, GroupSample, Observation, ScalerConfig, ScalerState, decide

from .sim.engine import Scaler


def _concurrency(g: GroupSample) -> float | None:
    m = g.metrics
    if m is None or m.requests_running is None:
        return None
    return m.requests_running + (m.requests_waiting or 0.0)


class Fixed(Scaler):
    def __init__(self, replicas: int, label: str) -> None:
        self.replicas = replicas
        self.name = f"fixed-{label} ({replicas})"

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        return self.replicas


class Hpa(Scaler):
    def __init__(
        self, target: float, lo: int, hi: int, start: int, tolerance: float = 0.1, down_window_s: float = 300.0
    ) -> None:
        self.name = f"hpa (target {target:g}/group)"
        self.target, self.lo, self.hi, self.tolerance, self.down_window = target, lo, hi, tolerance, down_window_s
        self.recommendations: deque[tuple[float, int]] = deque([(0.0, start)])  # seeded like ours

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        values = [v for g in groups if g.ready_seconds is not None and (v := _concurrency(g)) is not None]
        unready = sum(1 for g in groups if g.ready_seconds is None)
        desired = current
        if values:
            ratio = sum(values) / (self.target * len(values))
            if ratio > 1 + self.tolerance and unready:
                ratio = sum(values) / (self.target * (len(values) + unready))  # starting groups count as idle
                if ratio <= 1:
                    ratio = 1.0  # counting them reverses the direction: no scale-up
                desired = math.ceil(ratio * (len(values) + unready))
            elif abs(ratio - 1) > self.tolerance:
                desired = math.ceil(ratio * len(values))
        desired = min(desired, max(2 * current, current + 4))
        desired = max(self.lo, min(self.hi, desired))
        self.recommendations.append((now, desired))
        while self.recommendations and self.recommendations[0][0] <= now - self.down_window:
            self.recommendations.popleft()
        if desired < current:
            desired = min(current, max(r for _, r in self.recommendations))
        return desired


class Kpa(Scaler):
    def __init__(
        self,
        target: float,
        lo: int,
        hi: int,
        start: int,
        stable_s: float = 60.0,
        panic_s: float = 6.0,
        scrape_s: float = 15.0,
        seed_window_s: float = 300.0,
    ) -> None:
        self.name = f"kpa (target {target:g}/group)"
        self.target, self.lo, self.hi, self.stable_s = target, lo, hi, stable_s
        self.start, self.seed_window = start, seed_window_s
        self.panic_s = max(panic_s, scrape_s)  # the window must hold at least one scrape
        self.samples: deque[tuple[float, float]] = deque()
        self.panic_until: float | None = None

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        values = [v for g in groups if g.ready_seconds is not None and (v := _concurrency(g)) is not None]
        ready = max(1, sum(1 for g in groups if g.ready_seconds is not None))
        if values:
            self.samples.append((now, sum(values)))
        while self.samples and self.samples[0][0] <= now - self.stable_s:
            self.samples.popleft()
        if not self.samples:
            return current
        stable = sum(v for _, v in self.samples) / len(self.samples)
        recent = [v for t, v in self.samples if t > now - self.panic_s]
        panic = sum(recent) / len(recent) if recent else stable
        want_stable = math.ceil(stable / self.target)
        want_panic = math.ceil(panic / self.target)
        if want_panic >= 2 * ready:
            self.panic_until = now + self.stable_s
        elif self.panic_until is not None and now >= self.panic_until:
            self.panic_until = None
        panicking = self.panic_until is not None
        desired = max(current, want_panic) if panicking else max(want_stable, math.ceil(ready / 2))
        if now < self.seed_window:
            desired = max(desired, min(current, self.start))  # the start-up seeding every autoscaler gets
        return max(self.lo, min(self.hi, desired))


class Clairvoyant(Scaler):
    """Knows the future: `schedule[m]` groups serve minute m, each started `cold_start_s` (plus a scrape) ahead."""

    def __init__(
        self, schedule: Sequence[int], cold_start_s: float, utilization: float, scrape_s: float = 15.0
    ) -> None:
        self.name = f"clairvoyant (at {utilization:.0%} of capacity)"
        self.schedule, self.ahead = list(schedule), cold_start_s + scrape_s

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        first, last = int(now // 60), int((now + self.ahead) // 60)
        window = self.schedule[first : last + 1] or self.schedule[-1:]
        return max(window)


class Slo(Scaler):
    """Ours: `arks_slo_scaler.core.decide` on the same scrapes."""

    def __init__(self, spec: AutoscalingSpec, config: ScalerConfig | None = None, name: str = "arks-slo") -> None:
        self.name = name
        self.spec, self.config = spec, config or ScalerConfig()
        self.state = ScalerState()
        self.last_message = ""
        self.last_decision: Decision | None = None

    def tick(self, now: float, current: int, groups: Sequence[GroupSample]) -> int:
        decision, self.state = decide(self.spec, Observation(now, current, tuple(groups)), self.state, self.config)
        self.last_decision = decision
        self.last_message = f"{decision.direction} {decision.reason}: {decision.message}"
        return decision.desired_replicas
