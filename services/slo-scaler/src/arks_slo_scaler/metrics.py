"""The slo-scaler's own Prometheus metrics, and the per-application series it exports for dashboards and alerts.

Latency, queue and KV series are not exported here: Prometheus scrapes the runtimes and recording rules unify their
names (docs/observability.md). What only the slo-scaler knows is exported: the decision, the replica counts it
decided on, and each application's SLO as numbers the rules can join on (`le` spelled as the runtimes' clients
spell bucket edges).
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

from arks_common.api.application import AutoscalingSpec, LatencyTarget

DECISIONS = Counter(
    "arks_slo_scaler_decisions_total",
    "Decisions by application, direction and reason.",
    ["namespace", "application", "direction", "reason"],
)
SCRAPE_PROBLEMS = Counter(
    "arks_slo_scaler_scrape_problems_total", "Scrapes that failed or had garbled lines, by kind.", ["kind"]
)
PUBLISH_FAILURES = Counter(
    "arks_slo_scaler_publish_failures_total",
    "Bus messages not published (news only: a decision lives in the application's status), by channel and error.",
    ["channel", "error"],
)
STEP_FAILURES = Counter(
    "arks_slo_scaler_step_failures_total", "Scaling steps of one application that broke, by error type.", ["error"]
)
LEADER = Gauge("arks_slo_scaler_leader", "1 while this replica holds the lease and makes the decisions.")

_APP = ["namespace", "application"]
REPLICAS_DESIRED = Gauge("arks_application_replicas_desired", "Replica groups the last decision asked for.", _APP)
REPLICAS_CURRENT = Gauge("arks_application_replicas_current", "Replica groups the LeaderWorkerSet asks for.", _APP)
REPLICAS_READY = Gauge("arks_application_replicas_ready", "Replica groups whose leader pod is Ready.", _APP)
SLO_TARGET = Gauge(
    "arks_application_slo_target_seconds",
    "The latency target of an application's SLO; `le` is the target as a histogram bucket edge.",
    [*_APP, "slo", "le"],
)
SLO_OBJECTIVE = Gauge(
    "arks_application_slo_objective_ratio",
    "The share of requests that must be at or under the target (percentile / 100); `le` is the target.",
    [*_APP, "slo", "le"],
)

# what this replica exported, per (ns, app): forgetting removes exactly these, and an application never exported
# here costs a lookup (a remove of every series it could have had took ~2 ms: the events, or a relist, of 5,000
# applications without autoscaling held the event loop 9-15 s)
_exported: dict[tuple[str, str], set[tuple[str, str]]] = {}  # -> {(slo, le)} set in SLO_* gauges
_decided: dict[tuple[str, str], set[tuple[str, str]]] = {}  # -> {(direction, reason)} counted in DECISIONS


def bucket_edge(seconds: float) -> str:
    """A number as Prometheus' Python client (vLLM, SGLang) writes a bucket's `le`: 0.5 -> "0.5", 1 -> "1.0"."""
    # prometheus_client's floatToGoString is repr() for every number a latency target can be (< 1e16 s)
    return repr(float(seconds))


def export_application(
    namespace: str, application: str, spec: AutoscalingSpec, *, desired: int, current: int, ready: int
) -> None:
    REPLICAS_DESIRED.labels(namespace, application).set(desired)
    REPLICAS_CURRENT.labels(namespace, application).set(current)
    REPLICAS_READY.labels(namespace, application).set(ready)
    targets: dict[str, LatencyTarget | None] = {
        "time_to_first_token": spec.slo.time_to_first_token,
        "inter_token_latency": spec.slo.inter_token_latency,
    }
    now: set[tuple[str, str]] = set()
    for slo, target in targets.items():
        if target is None:
            continue
        le = bucket_edge(target.target_milliseconds / 1000.0)
        SLO_TARGET.labels(namespace, application, slo, le).set(target.target_milliseconds / 1000.0)
        SLO_OBJECTIVE.labels(namespace, application, slo, le).set(target.percentile / 100.0)
        now.add((slo, le))
    for slo, le in _exported.get((namespace, application), set()) - now:  # an edited SLO leaves no old series
        _remove(namespace, application, slo, le)
    _exported[(namespace, application)] = now


def count_decision(namespace: str, application: str, direction: str, reason: str) -> None:
    _decided.setdefault((namespace, application), set()).add((direction, reason))
    DECISIONS.labels(namespace, application, direction, reason).inc()


def forget_application(namespace: str, application: str) -> None:
    """No series for an application that is gone, no longer autoscaled, or decided by another replica (its
    decision counters too: kept, every application ever autoscaled would stay in every scrape for good)."""
    key = (namespace, application)
    if key not in _exported and key not in _decided:
        return  # nothing of it exported here: the common case, every event of an application without autoscaling
    for gauge in (REPLICAS_DESIRED, REPLICAS_CURRENT, REPLICAS_READY):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, application)
    for slo, le in _exported.pop(key, set()):
        _remove(namespace, application, slo, le)
    for direction, reason in _decided.pop(key, set()):
        with contextlib.suppress(KeyError):
            DECISIONS.remove(namespace, application, direction, reason)


def forget_all() -> None:
    for namespace, application in list(_exported.keys() | _decided.keys()):
        forget_application(namespace, application)
    DECISIONS.clear()


def _remove(namespace: str, application: str, slo: str, le: str) -> None:
    for gauge in (SLO_TARGET, SLO_OBJECTIVE):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, application, slo, le)
