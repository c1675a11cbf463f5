"""How many groups a load needs: the share of capacity to plan at, and the step a backlog calls for. Pure.

- Planned utilization: the fleet is planned at `target_utilization` of the capacity until the scaler has seen enough
  of the load to know how far it strays above what the trend window expected. Once it has (`min_samples` in the
  variability window) and the capacity is confirmed, it plans at 1 / headroom, at most `max_utilization`: closer
  to the capacity when the forecast's measured error is small, further from it when the load is bursty.
- A backlog stays where it was dispatched. vLLM and SGLang queue per engine and the router (smg 1.13.0,
  `power_of_two` with `least_requests`, as Arks configures it) picks a worker when a request arrives; no request
  moves to a group that comes up later. New groups only take new arrivals (they have the fewest requests in
  flight); the groups that hold the backlog serve it at their own rate. So a step sized as "arrivals + backlog / a
  drain time" over all groups is wrong twice: the new groups cannot serve the backlog, and while the old ones
  drain it they cannot serve the arrivals. The step instead keeps the old groups that the backlog still left when
  new groups could serve will occupy for `drain_seconds`, and adds enough groups to carry all the arrivals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BacklogStep", "backlog_step", "planned_utilization"]


def planned_utilization(
    room: float,
    samples: int,
    *,
    confirmed: bool,
    target_utilization: float,
    max_utilization: float,
    min_samples: int,
) -> float:
    """The share of a group's capacity the fleet is planned at, given the headroom `room` (>= 1) measured from
    `samples` deviations of the demand from its forecast. Only a `confirmed` capacity (a prior, a knee or a breach
    seen) is planned closer than `target_utilization`: an exploring guess keeps the configured margin."""
    if samples < min_samples or not confirmed:
        return min(target_utilization, 1.0 / room)
    return min(max_utilization, 1.0 / room)


@dataclass(frozen=True)
class BacklogStep:
    groups: int  # the groups the arrivals and the backlog need together
    backlog_then: float  # requests still waiting when a new group could serve (projected)
    held: int  # old groups still busy with that backlog


def backlog_step(
    *,
    arrivals: float,
    waiting: float,
    serving_groups: int,
    per_group: float,
    plan_u: float,
    lead_seconds: float,
    drain_seconds: float,
) -> BacklogStep:
    """Groups for `arrivals` req/s plus `waiting` requests queued in `serving_groups` groups that serve `per_group`
    req/s each, when new groups serve only after `lead_seconds`.

    The backlog then is what waits now plus what the arrivals add beyond what the groups serve until then (or less
    what they drain). The groups it holds are those needed to serve it within `drain_seconds` (at most all that
    hold it); the new ones must carry every arrival at `plan_u` of their capacity."""
    if per_group <= 0 or plan_u <= 0:
        raise ValueError("per_group and plan_u must be positive")
    backlog_then = max(0.0, waiting + (arrivals - per_group * serving_groups) * lead_seconds)
    held = min(serving_groups, math.ceil(backlog_then / (per_group * drain_seconds))) if backlog_then > 0 else 0
    return BacklogStep(held + math.ceil(arrivals / (per_group * plan_u)), backlog_then, held)
