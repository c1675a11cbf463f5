"""The `/metrics` text of SGLang and Dynamo for an emulated group, beside vLLM's (`autoscaling.sim.exposition`).

One job: print a group's counters as each runtime prints them: names, HELP/TYPE, labels, bucket edges and how each
client writes an edge. Facts, from the runtimes' sources:

- SGLang `python/sglang/srt/metrics/collector.py` at commit 00ae9c15 (`TokenizerMetricsCollector`,
  `SchedulerMetricsCollector`): `sglang:time_to_first_token_seconds` (default edges 0.1 ... 400 s),
  `sglang:inter_token_latency_seconds` (0.002 ... 8 s), `sglang:prompt_tokens_total`,
  `sglang:generation_tokens_total`, gauges `sglang:num_running_reqs`, `sglang:num_queue_reqs`, `sglang:token_usage`;
  label `model_name`; Prometheus' Python client, so an edge of 1 is written `le="1.0"`.
- Dynamo `lib/llm/src/http/service/metrics.rs` at commit 0014908a (the frontend, Rust `prometheus` crate):
  `dynamo_frontend_time_to_first_token_seconds` (log-spaced edges, defaults min 0.001, max 480, 18 buckets),
  `dynamo_frontend_inter_token_latency_seconds` (0.001, 2, 13), `dynamo_frontend_input_sequence_tokens`
  (50, 128000, 12), `dynamo_frontend_output_tokens_total`, gauges `dynamo_frontend_inflight_requests`,
  `dynamo_frontend_queued_requests`; label `model`. Its `generate_log_buckets` starts at 0 and rounds every other
  edge to two significant figures; Rust writes an integral edge without ".0" (`le="1"`). The engine's KV usage,
  `dynamo_component_gpu_cache_usage_percent` (a 0..1 fraction), is on the worker's system status server
  (`DYN_SYSTEM_PORT`), not the frontend (ai-dynamo 1.6.1 `common/utils/prometheus.py`).
- PD-separated serving. SGLang's disaggregation queue gauges (label `model_name`):
  `sglang:num_prefill_bootstrap_queue_reqs`, `sglang:num_prefill_inflight_queue_reqs`,
  `sglang:num_decode_prealloc_queue_reqs`, `sglang:num_decode_transfer_queue_reqs`
  (`python/sglang/srt/observability/metrics_collector.py`; older releases name the first
  `num_prefill_prealloc_queue_reqs`, `srt/metrics/collector.py` at commit 00ae9c15). A Dynamo prefill or decode
  worker has no frontend; its system status server passes the engine's own metrics through (`vllm:*` for the vLLM
  backend, ai-dynamo `docs/backends/vllm/prometheus.md`, 1.6 line) beside `dynamo_component_*`.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from autoscaling.sim.exposition import GroupCounters, render_histogram, render_vllm

SGLANG_TTFT = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0, 400.0)
SGLANG_ITL = (0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.020, 0.025, 0.030, 0.035, 0.040, 0.060, 0.080, 0.100,
              0.200, 0.400, 0.600, 0.800, 1.0, 2.0, 4.0, 6.0, 8.0)  # fmt: skip


def _round_to_two_significant_figures(value: float) -> float:
    scale = 10.0 ** (1 - math.floor(math.log10(abs(value))))
    return math.floor(value * scale + 0.5) / scale  # Rust's f64::round: halves away from zero (positive here)


def dynamo_log_buckets(low: float, high: float, count: int) -> tuple[float, ...]:
    """Dynamo's default edges: 0, then `count - 1` log-spaced values ending at `high`, two significant figures."""
    edges = [0.0]
    for i in range(1, count):
        value = math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (count - 1))
        rounded = _round_to_two_significant_figures(value)
        if rounded != edges[-1]:
            edges.append(rounded)
    return tuple(edges)


DYNAMO_TTFT = dynamo_log_buckets(0.001, 480.0, 18)
DYNAMO_ITL = dynamo_log_buckets(0.001, 2.0, 13)
DYNAMO_INPUT_SEQUENCE = dynamo_log_buckets(50.0, 128000.0, 12)
EDGES = {"vllm": (None, None), "sglang": (SGLANG_TTFT, SGLANG_ITL), "dynamo": (DYNAMO_TTFT, DYNAMO_ITL)}


@dataclass(frozen=True)
class PdQueues:
    """SGLang's PD queue gauges of one server: prefill's, or decode's (the other role's stay unprinted)."""

    prefill_bootstrap: int | None = None
    prefill_inflight: int | None = None
    decode_prealloc: int | None = None
    decode_transfer: int | None = None


def counters_for(runtime: str, disaggregation: str = "") -> GroupCounters:
    if runtime == "dynamo" and disaggregation:
        return GroupCounters.empty()  # a PD worker prints its vLLM engine's metrics, with vLLM's edges
    ttft, itl = EDGES[runtime]
    if ttft is None or itl is None:
        return GroupCounters.empty()
    counters = GroupCounters.empty(ttft, itl)
    if runtime == "dynamo":
        counters.prompt_lengths = []
    return counters


def rust_le(edge: float) -> str:
    """An edge as Rust's `{}` writes an f64: 1.0 -> "1", 0.47 -> "0.47" (no exponent for these sizes)."""
    return str(int(edge)) if edge.is_integer() else repr(edge)


def _gauge(name: str, doc: str, labels: str, value: float) -> list[str]:
    return [f"# HELP {name} {doc}", f"# TYPE {name} gauge", f"{name}{{{labels}}} {float(value)}"]


def _counter(name: str, doc: str, labels: str, value: float) -> list[str]:
    return [f"# HELP {name} {doc}", f"# TYPE {name} counter", f"{name}{{{labels}}} {float(value)}"]


def render_sglang(
    c: GroupCounters, model: str, *, running: int, waiting: int, kv_usage: float, pd_queues: PdQueues | None = None
) -> str:
    labels = f'model_name="{model}"'
    # a decode server's waiting requests are in its prealloc queue (below); its waiting queue is passed at once
    queued = 0 if pd_queues is not None and pd_queues.decode_prealloc is not None else waiting
    out = [
        *_gauge("sglang:num_running_reqs", "The number of running requests.", labels, running),
        *_gauge("sglang:num_queue_reqs", "The number of requests in the waiting queue.", labels, queued),
        *_gauge("sglang:token_usage", "The token usage.", labels, kv_usage),
        *_counter("sglang:prompt_tokens_total", "Number of prefill tokens processed.", labels, c.prompt_tokens),
        *_counter(
            "sglang:generation_tokens_total", "Number of generation tokens processed.", labels, c.generation_tokens
        ),
    ]
    out += render_histogram(
        "sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.", labels, c.ttft_edges,
        c.ttft_counts, c.ttft_sum,
    )  # fmt: skip
    out += render_histogram(
        "sglang:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", labels, c.itl_edges,
        c.itl_counts, c.itl_sum,
    )  # fmt: skip
    if pd_queues is not None:
        out += _pd_gauges(pd_queues, labels)
    return "\n".join(out) + "\n"


def _pd_gauges(q: PdQueues, labels: str) -> list[str]:
    out: list[str] = []
    for name, doc, value in (
        ("sglang:num_prefill_bootstrap_queue_reqs", "prefill bootstrap queue", q.prefill_bootstrap),
        ("sglang:num_prefill_inflight_queue_reqs", "prefill inflight queue", q.prefill_inflight),
        ("sglang:num_decode_prealloc_queue_reqs", "decode prealloc queue", q.decode_prealloc),
        ("sglang:num_decode_transfer_queue_reqs", "decode transfer queue", q.decode_transfer),
    ):
        if value is not None:
            out += _gauge(name, f"The number of requests in the {doc}.", labels, value)
    return out


def render_dynamo_worker(c: GroupCounters, *, running: int, waiting: int, kv_usage: float) -> str:
    """A Dynamo prefill or decode worker's system status server: its vLLM engine's metrics passed through, and
    the component's KV usage."""
    return render_vllm(c, running=running, waiting=waiting, kv_usage=kv_usage) + render_dynamo_system(
        "emulated", kv_usage=kv_usage
    )


def render_dynamo_frontend(c: GroupCounters, model: str, *, running: int, waiting: int) -> str:
    labels = f'model="{model}"'
    lengths = c.prompt_lengths or []
    isl_counts = [0.0] * (len(DYNAMO_INPUT_SEQUENCE) + 1)
    for n in lengths:
        isl_counts[bisect.bisect_left(DYNAMO_INPUT_SEQUENCE, n)] += 1
    out = [
        *_gauge("dynamo_frontend_inflight_requests", "Number of inflight requests", labels, running + waiting),
        *_gauge("dynamo_frontend_queued_requests", "Number of requests in HTTP processing queue", labels, waiting),
        *_counter("dynamo_frontend_output_tokens_total", "Total number of output tokens", labels, c.generation_tokens),
    ]
    out += render_histogram(
        "dynamo_frontend_time_to_first_token_seconds", "Time to first token in seconds", labels, c.ttft_edges,
        c.ttft_counts, c.ttft_sum, rust_le,
    )  # fmt: skip
    out += render_histogram(
        "dynamo_frontend_inter_token_latency_seconds", "Inter-token latency in seconds", labels, c.itl_edges,
        c.itl_counts, c.itl_sum, rust_le,
    )  # fmt: skip
    out += render_histogram(
        "dynamo_frontend_input_sequence_tokens", "Input sequence length in tokens", labels, DYNAMO_INPUT_SEQUENCE,
        isl_counts, float(sum(lengths)), rust_le,
    )  # fmt: skip
    return "\n".join(out) + "\n"


def render_dynamo_system(namespace: str, *, kv_usage: float) -> str:
    """The engine's system status server: the KV usage the scaler reads beside the frontend."""
    labels = f'dynamo_namespace="{namespace}",dynamo_component="backend",dynamo_endpoint="generate"'
    doc = "GPU cache usage as a fraction (0.0-1.0)"
    return "\n".join(_gauge("dynamo_component_gpu_cache_usage_percent", doc, labels, kv_usage)) + "\n"


def render(
    runtime: str,
    c: GroupCounters,
    model: str,
    *,
    running: int,
    waiting: int,
    kv_usage: float,
    pd_queues: PdQueues | None = None,
) -> str:
    """The group's main `/metrics` (vLLM's server, SGLang's server, Dynamo's frontend)."""
    if runtime == "sglang":
        return render_sglang(c, model, running=running, waiting=waiting, kv_usage=kv_usage, pd_queues=pd_queues)
    if runtime == "dynamo":
        return render_dynamo_frontend(c, model, running=running, waiting=waiting)
    return render_vllm(c, running=running, waiting=waiting, kv_usage=kv_usage)
