"""A leader pod's own start (creation to Ready), which a fresh slo-scaler plans its first ramps with, and when its
runtime last started (its counters begin at zero there)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arks_slo_scaler.core.samples import ready_since, runtime_started, started_in


def _pod(created: Any, ready: Any, *, status: str = "True", restarts: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"creationTimestamp": created},
        "status": {
            "conditions": [{"type": "Ready", "status": status, "lastTransitionTime": ready}],
            "containerStatuses": [{"name": "main", "restartCount": restarts}],
        },
    }


def _started(pod: dict[str, Any]) -> float | None:
    return started_in(pod, ready_since(pod))


def test_a_pod_ready_for_the_first_time_tells_how_long_it_took() -> None:
    assert _started(_pod("2026-12-06T10:00:00Z", "2026-12-06T10:04:10Z")) == 250.0
    assert _started(_pod("2026-12-06T10:00:00Z", "2026-12-06T11:04:10+01:00")) == 250.0
    no_statuses = _pod("2026-12-06T10:00:00Z", "2026-12-06T10:04:10Z")
    del no_statuses["status"]["containerStatuses"]
    assert _started(no_statuses) == 250.0


def test_no_start_is_told_when_the_ready_time_is_not_the_first_or_cannot_be_read() -> None:
    assert _started(_pod("2026-12-06T10:00:00Z", "2026-12-06T10:04:10Z", status="False")) is None
    assert _started(_pod("2026-12-06T10:00:00Z", "2026-12-06T11:04:10Z", restarts=1)) is None
    assert _started(_pod(None, "2026-12-06T10:04:10Z")) is None
    assert _started(_pod("yesterday", "2026-12-06T10:04:10Z")) is None
    assert _started(_pod("2026-12-06T10:00:00", "2026-12-06T10:04:10Z")) is None  # naive against aware
    assert _started(_pod("2026-12-06T10:05:00Z", "2026-12-06T10:04:10Z")) is None  # Ready before created
    assert _started({"metadata": {"creationTimestamp": "2026-12-06T10:00:00Z"}, "status": {}}) is None
    assert _started(_pod("2026-12-06T10:00:00Z", "ten past ten")) is None
    assert ready_since(_pod("2026-12-06T10:00:00Z", "ten past ten")) is None, "not counted from, not raised"
    odd = _pod("2026-12-06T10:00:00Z", "2026-12-06T10:04:10Z")
    odd["status"]["containerStatuses"] = "main"
    assert _started(odd) is None


def _containers(*statuses: Any) -> dict[str, Any]:
    return {"status": {"containerStatuses": list(statuses)}}


def _running(name: str, at: Any) -> dict[str, Any]:
    return {"name": name, "restartCount": 3, "state": {"running": {"startedAt": at}}}


def test_the_runtime_containers_last_start_is_when_its_counters_began() -> None:
    pod = _containers(_running("proxy", "2026-12-06T11:00:00Z"), _running("runtime", "2026-12-06T10:30:00Z"))
    assert runtime_started(pod) == datetime(2026, 12, 6, 10, 30, tzinfo=UTC)  # a sidecar's restart is not its own


def test_no_runtime_start_is_told_when_it_does_not_run_or_cannot_be_read() -> None:
    assert runtime_started(_containers(_running("main", "2026-12-06T10:30:00Z"))) is None
    assert (
        runtime_started(_containers({"name": "runtime", "state": {"waiting": {"reason": "CrashLoopBackOff"}}})) is None
    )
    assert runtime_started(_containers(_running("runtime", "half past ten"))) is None
    assert runtime_started(_containers(_running("runtime", "2026-12-06T10:30:00"))) is None  # naive
    assert runtime_started(_containers("runtime")) is None
    assert runtime_started({"status": {}}) is None
