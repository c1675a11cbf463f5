"""Unified metrics as bus payloads (`arks.metrics.<ns>.<name>`), and leader pods as replica groups. Pure."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from arks_common.conventions import RUNTIME_CONTAINER
from arks_common.events.payloads import HistogramSample, MetricsSample, ObjectKind, ObjectRef
from arks_slo_scaler.core.metrics import Histogram, MetricsSnapshot

GROUP_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/group-index"


def _histogram(h: Histogram | None) -> HistogramSample | None:
    if h is None:
        return None
    buckets = [("+Inf" if math.isinf(le) else repr(le), count) for le, count in h.buckets]
    return HistogramSample(buckets=buckets, count=h.count, sum=h.sum)


PROBLEMS_KEPT = 20
"""A metrics event names at most this many of a scrape's problems (each at most `PROBLEM_CHARS`), then how many
more there were: a garbled text of 8 MiB may hold a hundred thousand."""
PROBLEM_CHARS = 300


def kept_problems(problems: list[str]) -> list[str]:
    kept = [p if len(p) <= PROBLEM_CHARS else p[:PROBLEM_CHARS] + "…" for p in problems[:PROBLEMS_KEPT]]
    if len(problems) > PROBLEMS_KEPT:
        kept.append(f"… and {len(problems) - PROBLEMS_KEPT} more")
    return kept


def to_sample(
    namespace: str,
    name: str,
    uid: str,
    group: str,
    runtime: str,
    scraped_at: float,
    snapshot: MetricsSnapshot,
    problems: list[str],
) -> MetricsSample:
    return MetricsSample(
        ref=ObjectRef(kind=ObjectKind.APPLICATION, namespace=namespace, name=name, uid=uid),
        group=group,
        runtime=runtime,
        scraped_at=datetime.fromtimestamp(scraped_at, UTC),
        time_to_first_token_seconds=_histogram(snapshot.time_to_first_token),
        inter_token_latency_seconds=_histogram(snapshot.inter_token_latency),
        requests_running=snapshot.requests_running,
        requests_waiting=snapshot.requests_waiting,
        kv_cache_usage_ratio=snapshot.kv_cache_usage,
        prompt_tokens_total=snapshot.prompt_tokens_total,
        generation_tokens_total=snapshot.generation_tokens_total,
        problems=kept_problems(problems),
    )


def ready_since(pod: dict[str, Any]) -> datetime | None:
    """When the pod last became Ready, or None while it is not (or when that time does not parse)."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") != "True" or not cond.get("lastTransitionTime"):
                return None
            try:
                return datetime.fromisoformat(str(cond["lastTransitionTime"]).replace("Z", "+00:00"))
            except ValueError:  # the API server writes RFC 3339; anything else is not a time we can count from
                return None
    return None


def started_in(pod: dict[str, Any], since: datetime | None) -> float | None:
    """Seconds from the pod's creation to `since` (its `ready_since`), when that Ready is its first: None while it is
    not Ready, after a container restarted (the condition keeps only its last transition), or on a timestamp that
    does not parse. A readiness flap without a restart looks like a longer start; the scaler caps what it believes."""
    status = pod.get("status") or {}
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    containers = status.get("containerStatuses") or []
    if since is None or not created or not isinstance(containers, list):
        return None
    for container in containers:
        if not isinstance(container, dict) or container.get("restartCount", 0) != 0:
            return None
    try:
        took = (since - datetime.fromisoformat(str(created).replace("Z", "+00:00"))).total_seconds()
    except (TypeError, ValueError):  # a naive timestamp cannot be subtracted from an aware one either
        return None
    return took if took >= 0 else None


def runtime_started(pod: dict[str, Any]) -> datetime | None:
    """When the pod's runtime container last started (`state.running.startedAt`): its counters begin at zero
    there, whether the container restarted or the pod is new. None while it is not running, when the pod has no
    container of that name, or when the time does not parse; a readiness flap does not move it."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if not isinstance(container, dict) or container.get("name") != RUNTIME_CONTAINER:
            continue
        running = (container.get("state") or {}).get("running") or {}
        started = running.get("startedAt") if isinstance(running, dict) else None
        try:
            at = datetime.fromisoformat(str(started).replace("Z", "+00:00")) if started else None
        except ValueError:
            return None
        return at if at is not None and at.tzinfo is not None else None  # a naive time is no instant
    return None


def group_of(pod: dict[str, Any]) -> str:
    labels = pod.get("metadata", {}).get("labels") or {}
    return str(labels.get(GROUP_INDEX_LABEL, pod.get("metadata", {}).get("name", "")))
