"""The per-application series the slo-scaler exports: SLO targets as bucket edges the rules can join on, and no
series left behind for an application that is gone or edited."""

from __future__ import annotations

from prometheus_client import REGISTRY

from arks_common.api.application import AutoscalingSpec
from arks_slo_scaler.metrics import bucket_edge, export_application, forget_all, forget_application


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _spec(ttft_ms: float, percentile: float = 90) -> AutoscalingSpec:
    return AutoscalingSpec.model_validate(
        {
            "minReplicas": 1,
            "maxReplicas": 4,
            "slo": {"timeToFirstToken": {"targetMilliseconds": ttft_ms, "percentile": percentile}},
        }
    )


def test_bucket_edges_are_spelled_as_the_python_client_spells_le() -> None:
    assert [bucket_edge(s) for s in (0.5, 1.0, 0.025, 10.0, 2560.0)] == ["0.5", "1.0", "0.025", "10.0", "2560.0"]


def test_export_then_edit_then_forget() -> None:
    forget_all()
    export_application("ns", "app", _spec(500, 95), desired=3, current=2, ready=1)
    app = {"namespace": "ns", "application": "app"}
    assert _value("arks_application_replicas_desired", **app) == 3
    assert _value("arks_application_replicas_current", **app) == 2
    assert _value("arks_application_replicas_ready", **app) == 1
    ttft = {**app, "slo": "time_to_first_token", "le": "0.5"}
    assert _value("arks_application_slo_objective_ratio", **ttft) == 0.95
    assert _value("arks_application_slo_target_seconds", **ttft) == 0.5

    export_application("ns", "app", _spec(1000), desired=3, current=3, ready=3)  # the SLO was edited
    assert _value("arks_application_slo_objective_ratio", **ttft) is None
    assert _value("arks_application_slo_objective_ratio", **{**ttft, "le": "1.0"}) == 0.9

    forget_application("ns", "app")
    assert _value("arks_application_replicas_desired", **app) is None
    assert _value("arks_application_slo_target_seconds", **{**ttft, "le": "1.0"}) is None
