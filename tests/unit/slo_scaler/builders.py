"""Test objects for the slo-scaler: real-format `/metrics` texts of the three runtimes, snapshots, samples, specs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from arks_common.api.application import AutoscalingSpec
from arks_slo_scaler.core.decide import GroupSample
from arks_slo_scaler.core.metrics import Histogram, MetricsSnapshot

# vLLM's real bucket edges (vllm/v1/metrics/loggers.py)
VLLM_TTFT_EDGES = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                   20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
VLLM_ITL_EDGES = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                  40.0, 80.0)  # fmt: skip


def histogram_text(name: str, labels: str, edges: Sequence[float], cumulative: Sequence[float], total: float) -> str:
    """A histogram as prometheus_client prints it: HELP, TYPE, `_bucket` lines with `le`, then `_count`, `_sum`."""
    sep = "," if labels else ""
    lines = [f"# HELP {name} Histogram of {name}.", f"# TYPE {name} histogram"]
    for edge, count in zip((*[repr(float(e)) for e in edges], "+Inf"), cumulative, strict=True):
        lines.append(f'{name}_bucket{{{labels}{sep}le="{edge}"}} {float(count)}')
    lines.append(f"{name}_count{{{labels}}} {float(cumulative[-1])}")
    lines.append(f"{name}_sum{{{labels}}} {total}")
    return "\n".join(lines) + "\n"


def gauge_text(name: str, labels: str, value: float, kind: str = "gauge") -> str:
    return f"# HELP {name} {name}.\n# TYPE {name} {kind}\n{name}{{{labels}}} {value}\n"


def ramp(edges: Sequence[float], per_bucket: float = 1.0) -> list[float]:
    """Cumulative counts with `per_bucket` observations in each finite bucket and none above."""
    out = [per_bucket * (i + 1) for i in range(len(edges))]
    return [*out, out[-1]]


VLLM_LABELS = 'engine="0",model_name="llama"'


def vllm_text(*, itl_name: str = "vllm:inter_token_latency_seconds", kv_name: str = "vllm:kv_cache_usage_perc") -> str:
    return (
        gauge_text("vllm:num_requests_running", VLLM_LABELS, 7)
        + gauge_text("vllm:num_requests_waiting", VLLM_LABELS, 3)
        + gauge_text(kv_name, VLLM_LABELS, 0.25)
        + gauge_text("vllm:prompt_tokens_total", VLLM_LABELS, 12000, "counter")
        + gauge_text("vllm:generation_tokens_total", VLLM_LABELS, 3400, "counter")
        + histogram_text("vllm:time_to_first_token_seconds", VLLM_LABELS, VLLM_TTFT_EDGES, ramp(VLLM_TTFT_EDGES), 123.0)
        + histogram_text(itl_name, VLLM_LABELS, VLLM_ITL_EDGES, ramp(VLLM_ITL_EDGES, 10), 45.0)
    )


SGLANG_LABELS = 'model_name="meta-llama/Llama-3.1-8B-Instruct"'
SGLANG_TTFT_EDGES = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0)
SGLANG_ITL_EDGES = (0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08, 0.1)


def sglang_text() -> str:
    return (
        gauge_text("sglang:prompt_tokens_total", SGLANG_LABELS, 8.128902e06, "counter")
        + gauge_text("sglang:generation_tokens_total", SGLANG_LABELS, 7.557572e06, "counter")
        + gauge_text("sglang:token_usage", SGLANG_LABELS, 0.28)
        + gauge_text("sglang:num_running_reqs", SGLANG_LABELS, 12)
        + gauge_text("sglang:num_queue_reqs", SGLANG_LABELS, 2)
        + histogram_text(
            "sglang:time_to_first_token_seconds", SGLANG_LABELS, SGLANG_TTFT_EDGES, ramp(SGLANG_TTFT_EDGES), 9.5
        )
        + histogram_text(
            "sglang:inter_token_latency_seconds", SGLANG_LABELS, SGLANG_ITL_EDGES, ramp(SGLANG_ITL_EDGES, 5), 2.0
        )
    )


DYNAMO_LABELS = 'model="qwen/qwen3-0.6b"'
DYNAMO_EDGES = (0.0, 0.0022, 0.0047, 0.01, 0.022, 0.047, 0.1, 0.22, 0.47, 1.0, 2.2, 4.7, 10.0)


def dynamo_text() -> str:
    return (
        gauge_text("dynamo_frontend_inflight_requests", DYNAMO_LABELS, 4)
        + gauge_text("dynamo_frontend_queued_requests", DYNAMO_LABELS, 1)
        + gauge_text("dynamo_frontend_output_tokens_total", DYNAMO_LABELS, 5000, "counter")
        + histogram_text(
            "dynamo_frontend_input_sequence_tokens", DYNAMO_LABELS, (128.0, 1024.0, 8192.0), [10, 40, 50, 50], 30000.0
        )
        + histogram_text(
            "dynamo_frontend_time_to_first_token_seconds", DYNAMO_LABELS, DYNAMO_EDGES, ramp(DYNAMO_EDGES), 3.0
        )
        + histogram_text(
            "dynamo_frontend_inter_token_latency_seconds", DYNAMO_LABELS, DYNAMO_EDGES, ramp(DYNAMO_EDGES), 1.0
        )
        + gauge_text("dynamo_component_gpu_cache_usage_percent", 'dynamo_component="backend"', 0.5)
    )


def histogram(edges: Sequence[float], cumulative: Sequence[float], total: float = 0.0) -> Histogram:
    return Histogram(tuple(zip((*edges, float("inf")), cumulative, strict=True)), count=cumulative[-1], sum=total)


def snapshot(
    *, requests: float, ttft_s: float, itl_s: float = 0.02, waiting: float = 0.0, kv: float = 0.3
) -> MetricsSnapshot:
    """A cumulative scrape where `requests` first tokens all took `ttft_s` and as many tokens took `itl_s` each."""

    def put(edges: Sequence[float], value: float) -> Histogram:
        cumulative = [requests if value <= e else 0.0 for e in edges] + [requests]
        return histogram(edges, cumulative, value * requests)

    return MetricsSnapshot(
        time_to_first_token=put(VLLM_TTFT_EDGES, ttft_s),
        inter_token_latency=put(VLLM_ITL_EDGES, itl_s),
        requests_running=10.0,
        requests_waiting=waiting,
        kv_cache_usage=kv,
        prompt_tokens_total=requests * 1000,
        generation_tokens_total=requests * 200,
    )


def spec(**overrides: Any) -> AutoscalingSpec:
    body: dict[str, Any] = {
        "minReplicas": 1,
        "maxReplicas": 8,
        "slo": {
            "timeToFirstToken": {"targetMilliseconds": 500, "percentile": 90},
            "interTokenLatency": {"targetMilliseconds": 50, "percentile": 50},
        },
        "behavior": {"scaleUpStabilizationSeconds": 30, "scaleDownStabilizationSeconds": 300, "warmupSeconds": 60},
    }
    for key, value in overrides.items():
        if key in ("scaleUpStabilizationSeconds", "scaleDownStabilizationSeconds", "warmupSeconds"):
            body["behavior"][key] = value
        else:
            body[key] = value
    return AutoscalingSpec.model_validate(body)


def group(
    name: str,
    *,
    ready_for: float | None = 3600.0,
    at: float | None = None,
    metrics: MetricsSnapshot | None = None,
    nodes: int = 1,
    start: float | None = None,
    started_at: float | None = None,
) -> GroupSample:
    sample = GroupSample(name, ready_for, at, metrics, nodes, start_seconds=start)
    return sample if started_at is None else replace(sample, started_at=started_at)


class Leader:
    """A group leader's counters: `serve` adds requests and returns the cumulative scrape, as a runtime would."""

    def __init__(self) -> None:
        self.ttft = [0.0] * (len(VLLM_TTFT_EDGES) + 1)
        self.itl = [0.0] * (len(VLLM_ITL_EDGES) + 1)
        self.ttft_sum = self.itl_sum = 0.0

    def serve(self, requests: float, *, ttft_s: float, itl_s: float = 0.02, waiting: float = 0.0,
              kv: float = 0.3) -> MetricsSnapshot:  # fmt: skip
        for edges, counts, value in ((VLLM_TTFT_EDGES, self.ttft, ttft_s), (VLLM_ITL_EDGES, self.itl, itl_s)):
            index = next((i for i, e in enumerate(edges) if value <= e), len(edges))
            counts[index] += requests
        self.ttft_sum += ttft_s * requests
        self.itl_sum += itl_s * requests

        def cumulative(counts: list[float]) -> list[float]:
            out, total = [], 0.0
            for c in counts:
                total += c
                out.append(total)
            return out

        return MetricsSnapshot(
            time_to_first_token=histogram(VLLM_TTFT_EDGES, cumulative(self.ttft), self.ttft_sum),
            inter_token_latency=histogram(VLLM_ITL_EDGES, cumulative(self.itl), self.itl_sum),
            requests_running=10.0,
            requests_waiting=waiting,
            kv_cache_usage=kv,
        )
