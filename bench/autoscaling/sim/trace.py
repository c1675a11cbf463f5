"""The request trace that drives the simulator, and the documented transformations applied to it.

Source: `shared/traces/AzureLLMInferenceTrace_conv.csv` (Azure LLM inference trace 2023, conversation service,
CC-BY 4.0): 19,366 requests over ~3,500 s, columns TIMESTAMP, ContextTokens, GeneratedTokens.

Transformation (`transform`), the same for every scaler, varied only by the seed:
1. arrival times relative to the first request (seconds);
2. `copies` superposed copies of the trace (a load multiplier that keeps the hour's shape: one H100 group serves
   the raw trace, so several copies make the peak need several groups);
3. every request of every copy gets its arrival moved by an independent uniform jitter in +-`jitter_s` seconds
   (seeded), reflected at the trace's ends (so no pile-up at 0 or at the end), so seeds differ in their fine
   structure but not in the minute-level load;
4. optionally (`swing` > 0) a one-cycle cosine load multiplier m(t) = 1 - swing*cos(2*pi*t/span), like a day's
   rise and fall compressed into the hour: each request is kept with probability m(t) / (1 + swing) (seeded
   thinning), so the load swings between (1 - swing) and (1 + swing) times the trace's own shape (divided by
   1 + swing); the trace's own hump is in the middle, where m peaks too;
5. `time_scale` divides all arrival times (1 = real time).
Prompt and output lengths are kept as recorded; outputs are at least 2 tokens (so a TPOT exists).

Bursts (`inject_bursts`, for the bursty scenarios): burst starts are a seeded Poisson process (mean gap `gap_s`);
each burst lasts a uniform `duration_s` range and adds requests at (`factor` - 1) x the transformed trace's mean
rate, each a request of the original trace drawn at random (seeded) - only from those whose prompt is at least the
`prompt_quantile` quantile and whose output is at most the `output_quantile` quantile when those are given (large
prompts, short answers: a batch job or an agent fan-out landing on a chat service).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .shared import SHARED

TRACE = SHARED / "traces" / "AzureLLMInferenceTrace_conv.csv"


@dataclass(frozen=True)
class Trace:
    arrival: npt.NDArray[np.float64]  # seconds, ascending
    prompt: npt.NDArray[np.int64]
    output: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.arrival)

    @property
    def duration(self) -> float:
        return float(self.arrival[-1]) if len(self.arrival) else 0.0


def load(path: Path = TRACE) -> Trace:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    stamps = np.array([datetime.fromisoformat(r["TIMESTAMP"][:26]).timestamp() for r in rows])
    order = np.argsort(stamps, kind="stable")
    arrival = stamps[order] - stamps[order][0]
    prompt = np.array([int(r["ContextTokens"]) for r in rows], dtype=np.int64)[order]
    output = np.array([int(r["GeneratedTokens"]) for r in rows], dtype=np.int64)[order]
    return Trace(arrival, prompt, output)


def transform(trace: Trace, *, copies: int, jitter_s: float, time_scale: float, seed: int, swing: float = 0.0) -> Trace:
    """Superpose `copies` jittered copies, swing the load, compress time (all seeded); see the module docstring."""
    rng = np.random.default_rng(seed)
    span = trace.duration
    arrivals = []
    for _ in range(copies):
        moved = np.abs(trace.arrival + rng.uniform(-jitter_s, jitter_s, len(trace)))
        arrivals.append(np.where(moved > span, 2 * span - moved, moved))
    arrival = np.concatenate(arrivals) / time_scale
    prompt = np.tile(trace.prompt, copies)
    output = np.maximum(np.tile(trace.output, copies), 2)
    if swing > 0:
        keep = rng.random(len(arrival)) < (1 - swing * np.cos(2 * np.pi * arrival * time_scale / span)) / (1 + swing)
        arrival, prompt, output = arrival[keep], prompt[keep], output[keep]
    order = np.argsort(arrival, kind="stable")
    return Trace(arrival[order], prompt[order], output[order])


def inject_bursts(
    trace: Trace,
    source: Trace,
    *,
    seed: int,
    gap_s: float,
    duration_s: tuple[float, float],
    factor: float,
    prompt_quantile: float | None = None,
    output_quantile: float | None = None,
) -> tuple[Trace, list[tuple[float, float]]]:
    """Add seeded bursts to `trace` (see the module docstring); returns the new trace and the bursts (start, end)."""
    rng = np.random.default_rng(seed + 1000)
    pool = np.arange(len(source))
    if prompt_quantile is not None:
        pool = pool[source.prompt[pool] >= np.quantile(source.prompt, prompt_quantile)]
    if output_quantile is not None:
        pool = pool[source.output[pool] <= np.quantile(source.output, output_quantile)]
    rate = (factor - 1.0) * len(trace) / trace.duration
    bursts: list[tuple[float, float]] = []
    extra: list[npt.NDArray[np.float64]] = []
    t = float(rng.exponential(gap_s))
    while t < trace.duration:
        length = float(rng.uniform(*duration_s))
        end = min(t + length, trace.duration)
        n = int(rng.poisson(rate * (end - t)))
        extra.append(np.sort(rng.uniform(t, end, n)))
        bursts.append((t, end))
        t = end + float(rng.exponential(gap_s))
    added = np.concatenate(extra) if extra else np.zeros(0)
    pick = rng.choice(pool, len(added))
    arrival = np.concatenate([trace.arrival, added])
    prompt = np.concatenate([trace.prompt, source.prompt[pick]])
    output = np.concatenate([trace.output, np.maximum(source.output[pick], 2)])
    order = np.argsort(arrival, kind="stable")
    return Trace(arrival[order], prompt[order], output[order]), bursts
