"""The model-loader's own Prometheus metrics."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

from arks_common.api.model import ModelPhase

MODEL_PHASE = Gauge(
    "arks_model_status_phase",
    "1 for the phase an ArksModel is in (as written to its status), 0 for the others.",
    ["namespace", "model", "phase"],
)

MODEL_READS = Counter(
    "arks_model_loader_gate_model_reads_total",
    "Models the Loaded gate judged an application from, by source: its watch of Ready models, or a GET.",
    ["source"],
)


def set_phase(namespace: str, model: str, phase: str) -> None:
    """One-hot over the known phases, as kube-state-metrics shows a pod's phase."""
    for known in ModelPhase:
        MODEL_PHASE.labels(namespace, model, known.value).set(1 if known.value == phase else 0)


def forget(namespace: str, model: str) -> None:
    """A deleted model leaves no series behind (an old Failed would keep its alert firing)."""
    for known in ModelPhase:
        with contextlib.suppress(KeyError):
            MODEL_PHASE.remove(namespace, model, known.value)
