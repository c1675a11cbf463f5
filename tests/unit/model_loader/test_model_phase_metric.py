"""`arks_model_status_phase` is one-hot over the phases, and a deleted model leaves no series (its Failed would keep
ArksModelDownloadFailing firing)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from arks_model_loader.metrics import forget, set_phase


def _phase(phase: str) -> float | None:
    return REGISTRY.get_sample_value("arks_model_status_phase", {"namespace": "ns", "model": "m", "phase": phase})


def test_phase_is_one_hot_and_forgotten_on_delete() -> None:
    set_phase("ns", "m", "ModelLoading")
    assert (_phase("ModelLoading"), _phase("Failed"), _phase("Ready")) == (1, 0, 0)
    set_phase("ns", "m", "Failed")
    assert (_phase("ModelLoading"), _phase("Failed")) == (0, 1)
    forget("ns", "m")
    assert _phase("Failed") is None
