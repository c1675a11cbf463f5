"""The per-step time model of one engine, fitted to step times measured on a real GPU.

Source: `shared/calibration/h100-llama8b-steptime.json` — one NVIDIA H100 80GB HBM3, PyTorch 2.11, a
Llama-3.1-8B-shaped decoder with random bf16 weights (plain PyTorch kernels, CUDA-graph decode). Forms, fitted by
least squares on those points:
- prefill of T new tokens: `p0 + p1*T + p2*T^2` ms (the square is causal attention);
- decode of B sequences whose contexts sum to S tokens: `d0 + d1*B + d2*S` ms (weights streamed once per step,
  per-sequence work, and KV-cache reads proportional to the context held);
- a chunked-prefill step that also decodes: the decode time plus the prefill's time above its fixed part, since the
  weights are streamed once per step whatever it carries (our assumption, not a measurement).
It must not depend on anything but that file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .shared import SHARED

CALIBRATION = SHARED / "calibration" / "h100-llama8b-steptime.json"
SOURCE = "step times measured on an NVIDIA H100 80GB HBM3 (shared/calibration/h100-llama8b-steptime.json)"


@dataclass(frozen=True)
class StepTimeModel:
    """Milliseconds per engine step; coefficients from `fit`."""

    p0: float
    p1: float
    p2: float
    d0: float
    d1: float
    d2: float
    weights_gb: float
    prefill_rel_error: float  # worst relative error of the fit over the measured points
    decode_rel_error: float

    def prefill_ms(self, tokens: float) -> float:
        return self.p0 + self.p1 * tokens + self.p2 * tokens * tokens

    def decode_ms(self, batch: float, context_sum: float) -> float:
        return self.d0 + self.d1 * batch + self.d2 * context_sum

    def step_ms(self, batch: int, context_sum: float, prefill_tokens: int) -> float:
        """One engine step: `batch` decodes (contexts summing to `context_sum`) and `prefill_tokens` prompt tokens."""
        if batch == 0:
            return self.prefill_ms(prefill_tokens)
        extra = self.p1 * prefill_tokens + self.p2 * prefill_tokens * prefill_tokens if prefill_tokens else 0.0
        return self.decode_ms(batch, context_sum) + extra

    def describe(self) -> str:
        return (
            f"prefill_ms(T) = {self.p0:.3f} + {self.p1 * 1e3:.4f}e-3*T + {self.p2 * 1e6:.5f}e-6*T^2 "
            f"(max rel. error {self.prefill_rel_error:.1%}); "
            f"decode_ms(B, S) = {self.d0:.3f} + {self.d1:.4f}*B + {self.d2 * 1e6:.4f}e-6*S "
            f"(max rel. error {self.decode_rel_error:.1%}); source: {SOURCE}"
        )


def fit(path: Path = CALIBRATION) -> StepTimeModel:
    """Least-squares fit of both forms on the measured points (relative error weighted: small steps matter)."""
    data = json.loads(path.read_text())
    t = np.array([float(k) for k in data["prefill_ms"]])
    y = np.array(list(data["prefill_ms"].values()), dtype=float)
    a = np.stack([np.ones_like(t), t, t * t], axis=1)
    p, *_ = np.linalg.lstsq(a / y[:, None], np.ones_like(y), rcond=None)
    prefill_err = float(np.max(np.abs(a @ p - y) / y))

    rows = []
    for key, ms in data["decode_ms"].items():
        parts = dict(item.split("=") for item in key.split(","))
        b, length = float(parts["B"]), float(parts["L"])
        rows.append((b, b * length, float(ms)))
    arr = np.array(rows)
    a2 = np.stack([np.ones(len(arr)), arr[:, 0], arr[:, 1]], axis=1)
    d, *_ = np.linalg.lstsq(a2 / arr[:, 2:3], np.ones(len(arr)), rcond=None)
    decode_err = float(np.max(np.abs(a2 @ d - arr[:, 2]) / arr[:, 2]))
    return StepTimeModel(
        p0=float(p[0]),
        p1=float(p[1]),
        p2=float(p[2]),
        d0=float(d[0]),
        d1=float(d[1]),
        d2=float(d[2]),
        weights_gb=float(data["weights_GB"]),
        prefill_rel_error=prefill_err,
        decode_rel_error=decode_err,
    )
