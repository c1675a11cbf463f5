"""An upgrade: applications stored before the CRD's autoscaling rules (a scale-down window over an hour, autoscaling
without a latency target) are still decided, not silently dropped or failed (the rules are the CRD's only)."""

from __future__ import annotations

from typing import Any

from unit.slo_scaler.shell import application, shell, track

from arks_common.api.application import ArksApplication

TTFT = {"timeToFirstToken": {"targetMilliseconds": 500, "percentile": 90}}


def _app(down_seconds: int = 300, slo: dict[str, Any] | None = None, min_replicas: int = 1) -> dict[str, Any]:
    autoscaling = {
        "minReplicas": min_replicas,
        "maxReplicas": 8,
        "slo": TTFT if slo is None else slo,
        "behavior": {"scaleUpStabilizationSeconds": 30, "scaleDownStabilizationSeconds": down_seconds},
    }
    return application(autoscaling=autoscaling)


def test_both_parse() -> None:
    ArksApplication.model_validate(_app(down_seconds=7200))
    ArksApplication.model_validate(_app(slo={}))


async def test_a_stored_window_over_the_bound_is_decided() -> None:
    s = shell()
    s.cluster.add(_app(down_seconds=7200), groups=2)
    track(s)
    await s.ticks(4)
    assert s.cluster.status_writes, "no decision was ever written for a stored 7200 s window"


async def test_a_stored_application_without_a_target_is_still_held_within_its_bounds() -> None:
    s = shell()
    s.cluster.add(_app(slo={}, min_replicas=3), groups=2)
    track(s)
    await s.ticks(2)
    assert s.cluster.status_writes, "an autoscaled application stored without a target was never decided"
    _, status = s.cluster.status_writes[-1]
    assert status["autoscaling"]["desiredReplicas"] == 3, status  # brought up to its minReplicas
