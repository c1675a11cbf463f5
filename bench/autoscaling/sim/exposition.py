"""A simulated group's counters, and their rendering as vLLM `/metrics` text (the runtime's real format).

One job: hold what a vLLM engine would count (latency histograms, token counters) and print it exactly as vLLM's
Prometheus logger does: names, HELP/TYPE lines, `model_name`/`engine` labels and the histogram bucket edges of
vLLM `vllm/v1/metrics/loggers.py` (checked at commit a6f0308c, the 0.12 line).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from arks_slo_scaler.core.metrics import Histogram, MetricsSnapshot

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
               80.0)  # fmt: skip
MODEL = "llama-3.1-8b"


@dataclass
class GroupCounters:
    ttft_counts: list[float]  # per bucket (not cumulative), the last one is +Inf
    ttft_sum: float
    itl_counts: list[float]
    itl_sum: float
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    # bucket edges: vLLM's unless a runtime with other edges is emulated (bench/emulator/formats.py)
    ttft_edges: tuple[float, ...] = TTFT_BUCKETS
    itl_edges: tuple[float, ...] = ITL_BUCKETS
    prompt_lengths: list[int] | None = None  # each request's prompt, kept only where a format needs a histogram

    @classmethod
    def empty(
        cls, ttft_edges: tuple[float, ...] = TTFT_BUCKETS, itl_edges: tuple[float, ...] = ITL_BUCKETS
    ) -> GroupCounters:
        return cls(
            [0.0] * (len(ttft_edges) + 1), 0.0, [0.0] * (len(itl_edges) + 1), 0.0,
            ttft_edges=ttft_edges, itl_edges=itl_edges,
        )  # fmt: skip

    def observe_ttft(self, seconds: float) -> None:
        self.ttft_counts[bisect.bisect_left(self.ttft_edges, seconds)] += 1
        self.ttft_sum += seconds

    def observe_itl(self, seconds: float, times: int) -> None:
        """`times` observations of the same inter-token latency (one per decoding request of a step)."""
        self.itl_counts[bisect.bisect_left(self.itl_edges, seconds)] += times
        self.itl_sum += seconds * times

    def snapshot(self, *, running: int, waiting: int, kv_usage: float) -> MetricsSnapshot:
        """The same numbers as `render_vllm` + `parse_metrics` would give, without the text (fast path for tests)."""
        return MetricsSnapshot(
            time_to_first_token=_histogram(self.ttft_edges, self.ttft_counts, self.ttft_sum),
            inter_token_latency=_histogram(self.itl_edges, self.itl_counts, self.itl_sum),
            requests_running=float(running),
            requests_waiting=float(waiting),
            kv_cache_usage=kv_usage,
            prompt_tokens_total=self.prompt_tokens,
            generation_tokens_total=self.generation_tokens,
        )


def _histogram(edges: tuple[float, ...], counts: list[float], total: float) -> Histogram:
    cumulative, running = [], 0.0
    for c in counts:
        running += c
        cumulative.append(running)
    return Histogram(tuple(zip((*edges, float("inf")), cumulative, strict=True)), count=running, sum=total)


def render_vllm(c: GroupCounters, *, running: int, waiting: int, kv_usage: float) -> str:
    """The group's `/metrics` text as vLLM prints it (one engine, index 0)."""
    labels = f'engine="0",model_name="{MODEL}"'
    out = [
        "# HELP vllm:num_requests_running Number of requests in model execution batches.",
        "# TYPE vllm:num_requests_running gauge",
        f"vllm:num_requests_running{{{labels}}} {float(running)}",
        "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
        "# TYPE vllm:num_requests_waiting gauge",
        f"vllm:num_requests_waiting{{{labels}}} {float(waiting)}",
        "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
        "# TYPE vllm:kv_cache_usage_perc gauge",
        f"vllm:kv_cache_usage_perc{{{labels}}} {kv_usage}",
        "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
        "# TYPE vllm:prompt_tokens_total counter",
        f"vllm:prompt_tokens_total{{{labels}}} {c.prompt_tokens}",
        "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
        "# TYPE vllm:generation_tokens_total counter",
        f"vllm:generation_tokens_total{{{labels}}} {c.generation_tokens}",
    ]
    out += render_histogram(
        "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", labels, c.ttft_edges,
        c.ttft_counts, c.ttft_sum,
    )  # fmt: skip
    out += render_histogram(
        "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", labels, c.itl_edges,
        c.itl_counts, c.itl_sum,
    )  # fmt: skip
    return "\n".join(out) + "\n"


def python_le(edge: float) -> str:
    """A bucket edge as Prometheus' Python client writes it (vLLM, SGLang): 1 -> "1.0"."""
    return repr(float(edge))


def render_histogram(
    name: str,
    doc: str,
    labels: str,
    edges: tuple[float, ...],
    counts: list[float],
    total: float,
    le_format: Callable[[float], str] = python_le,
) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} histogram"]
    running = 0.0
    for edge, count in zip((*edges, float("inf")), counts, strict=True):
        running += count
        le = "+Inf" if edge == float("inf") else le_format(edge)
        lines.append(f'{name}_bucket{{{labels},le="{le}"}} {running}')
    lines.append(f"{name}_count{{{labels}}} {running}")
    lines.append(f"{name}_sum{{{labels}}} {total}")
    return lines
