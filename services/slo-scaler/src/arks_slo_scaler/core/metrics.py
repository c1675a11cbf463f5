"""The unified metrics interface: read a runtime's Prometheus text and give the same names and units for all runtimes.

One job: turn the `/metrics` text of vLLM, SGLang or Dynamo into a `MetricsSnapshot` (seconds, ratios 0..1, token
counts), and compute histogram percentiles from the difference of two scrapes, as PromQL's `histogram_quantile`
over `increase(...)` does. It must not do I/O, read clocks or raise on bad input: garbled or partial text is
reported as `ParseProblem`s and skipped.

Runtime names were checked against the sources (see docs/autoscaling.md for the table):
- vLLM `vllm/v1/metrics/loggers.py` at commit a6f0308c (0.12 line; `time_per_output_token_seconds` hidden since
  0.11, `gpu_cache_usage_perc` renamed `kv_cache_usage_perc` in the V1 engine);
- SGLang `python/sglang/srt/metrics/collector.py` at commit 93d04878 and `docs/references/production_metrics.md`;
- Dynamo metrics catalog v1.4.0-v1.7.0 (`dynamo_frontend_*`; `inflight_requests`/`queued_requests` are deprecated
  there in favour of `active_requests`/`stage_requests` but still emitted).

PD-separated serving (docs/pd.md):
- SGLang's disaggregation queue gauges: `sglang:num_prefill_bootstrap_queue_reqs` (newer
  `python/sglang/srt/observability/metrics_collector.py`; `sglang:num_prefill_prealloc_queue_reqs` in
  `srt/metrics/collector.py` at commit 00ae9c15), `sglang:num_prefill_inflight_queue_reqs`,
  `sglang:num_decode_prealloc_queue_reqs`, `sglang:num_decode_transfer_queue_reqs` (both files).
- A Dynamo prefill or decode worker has no frontend: its system status server (`DYN_SYSTEM_PORT`) passes the
  engine's own metrics through (`vllm:*` for the vLLM backend; ai-dynamo `docs/backends/vllm/prometheus.md`,
  1.6 line; `sglang:*` for the SGLang backend, ai-dynamo 1.6.1 `sglang/publisher.py`) beside
  `dynamo_component_*`; the slo-scaler reads it with the engine's mapping (`roles.engine_runtime`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum

from prometheus_client.parser import text_string_to_metric_families

from arks_common.api.application import Runtime

__all__ = [
    "MAPPINGS",
    "Histogram",
    "MetricsSnapshot",
    "ParseProblem",
    "ParseResult",
    "RuntimeMapping",
    "UnifiedMetric",
    "counter_increase",
    "histogram_increase",
    "histogram_quantile",
    "merge_histograms",
    "parse_metrics",
]


class UnifiedMetric(StrEnum):
    """Our names, whatever the runtime. Latencies in seconds, usage as a ratio 0..1, tokens as counts."""

    TIME_TO_FIRST_TOKEN_SECONDS = "arks_time_to_first_token_seconds"  # histogram
    INTER_TOKEN_LATENCY_SECONDS = "arks_inter_token_latency_seconds"  # histogram
    REQUESTS_RUNNING = "arks_requests_running"  # gauge, requests in the engine's batch
    REQUESTS_WAITING = "arks_requests_waiting"  # gauge, requests queued before their first token
    KV_CACHE_USAGE_RATIO = "arks_kv_cache_usage_ratio"  # gauge, 0..1
    PROMPT_TOKENS_TOTAL = "arks_prompt_tokens_total"  # counter
    GENERATION_TOKENS_TOTAL = "arks_generation_tokens_total"  # counter
    # PD-separated serving: requests a prefill server holds until a decode server is bootstrapped, and while
    # their KV cache is sent; requests a decode server holds until it has KV memory, and while the KV arrives
    PREFILL_BOOTSTRAP_QUEUE = "arks_prefill_bootstrap_queue_requests"  # gauge
    PREFILL_TRANSFER_QUEUE = "arks_prefill_transfer_queue_requests"  # gauge
    DECODE_PREALLOC_QUEUE = "arks_decode_prealloc_queue_requests"  # gauge
    DECODE_TRANSFER_QUEUE = "arks_decode_transfer_queue_requests"  # gauge


@dataclass(frozen=True)
class Histogram:
    """A cumulative histogram: `buckets` are (upper bound, cumulative count), ascending, the last one +Inf."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    sum: float

    @property
    def edges(self) -> tuple[float, ...]:
        return tuple(le for le, _ in self.buckets)


@dataclass(frozen=True)
class MetricsSnapshot:
    """One scrape of one group's leader, in unified names and units; None where the runtime did not say."""

    time_to_first_token: Histogram | None = None
    inter_token_latency: Histogram | None = None
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_usage: float | None = None
    prompt_tokens_total: float | None = None
    generation_tokens_total: float | None = None
    prefill_bootstrap_queue: float | None = None
    prefill_transfer_queue: float | None = None
    decode_prealloc_queue: float | None = None
    decode_transfer_queue: float | None = None
    # latency histograms the text printed but the parser refused (garbled, cut off): unknown, unlike one not printed
    # at all (a runtime creates a labelled histogram at its first observation: until then it has none to show)
    refused: frozenset[UnifiedMetric] = frozenset()

    @property
    def blank(self) -> bool:
        """Nothing of the runtime's at all: an answer that is no scrape of it (an empty Prometheus vector, a proxy's
        HTML page). A running runtime always prints its request gauges, so this is never an idle one."""
        return not self.refused and all(getattr(self, f.name) is None for f in fields(self) if f.name != "refused")


@dataclass(frozen=True)
class ParseProblem:
    """Something in the text we skipped: the 1-based line (when known), the metric (when known) and why."""

    message: str
    line: int | None = None
    metric: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        what = f"{self.metric}: " if self.metric else ""
        return f"{where}{what}{self.message}"


@dataclass(frozen=True)
class ParseResult:
    snapshot: MetricsSnapshot
    problems: tuple[ParseProblem, ...] = ()
    # the newest sample timestamp the text carried (seconds): when Prometheus scraped what it answers. None for a
    # runtime's own /metrics, which carries none (its scrape is now)
    sampled_at: float | None = None


@dataclass(frozen=True)
class RuntimeMapping:
    """Which runtime metric feeds which unified one; the first name present wins (newest name first)."""

    time_to_first_token: tuple[str, ...]
    inter_token_latency: tuple[str, ...]
    requests_running: tuple[str, ...]
    requests_waiting: tuple[str, ...]
    kv_cache_usage: tuple[str, ...]
    prompt_tokens_total: tuple[str, ...]
    generation_tokens_total: tuple[str, ...]
    # Runtimes without a prompt-token counter expose a prompt-length histogram; its `_sum` is the same counter.
    prompt_tokens_histogram: tuple[str, ...] = ()
    # A usage reported in percent (0..100) instead of a ratio.
    kv_usage_scale: float = 1.0
    # PD-separated serving's queues (none for a runtime without them)
    prefill_bootstrap_queue: tuple[str, ...] = ()
    prefill_transfer_queue: tuple[str, ...] = ()
    decode_prealloc_queue: tuple[str, ...] = ()
    decode_transfer_queue: tuple[str, ...] = ()


SGLANG_PREFILL_BOOTSTRAP = ("sglang:num_prefill_bootstrap_queue_reqs", "sglang:num_prefill_prealloc_queue_reqs")
SGLANG_PREFILL_TRANSFER = ("sglang:num_prefill_inflight_queue_reqs",)
SGLANG_DECODE_PREALLOC = ("sglang:num_decode_prealloc_queue_reqs",)
SGLANG_DECODE_TRANSFER = ("sglang:num_decode_transfer_queue_reqs",)


MAPPINGS: Mapping[Runtime, RuntimeMapping] = {
    Runtime.VLLM: RuntimeMapping(
        time_to_first_token=("vllm:time_to_first_token_seconds",),
        inter_token_latency=("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        requests_running=("vllm:num_requests_running",),
        requests_waiting=("vllm:num_requests_waiting",),
        kv_cache_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        prompt_tokens_total=("vllm:prompt_tokens_total",),
        generation_tokens_total=("vllm:generation_tokens_total",),
    ),
    Runtime.SGLANG: RuntimeMapping(
        time_to_first_token=("sglang:time_to_first_token_seconds",),
        inter_token_latency=("sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds"),
        requests_running=("sglang:num_running_reqs",),
        requests_waiting=("sglang:num_queue_reqs",),
        kv_cache_usage=("sglang:token_usage",),
        prompt_tokens_total=("sglang:prompt_tokens_total",),
        generation_tokens_total=("sglang:generation_tokens_total",),
        prefill_bootstrap_queue=SGLANG_PREFILL_BOOTSTRAP,
        prefill_transfer_queue=SGLANG_PREFILL_TRANSFER,
        decode_prealloc_queue=SGLANG_DECODE_PREALLOC,
        decode_transfer_queue=SGLANG_DECODE_TRANSFER,
    ),
    Runtime.DYNAMO: RuntimeMapping(
        time_to_first_token=("dynamo_frontend_time_to_first_token_seconds",),
        inter_token_latency=("dynamo_frontend_inter_token_latency_seconds",),
        requests_running=("dynamo_frontend_inflight_requests", "dynamo_frontend_active_requests"),
        requests_waiting=("dynamo_frontend_queued_requests",),
        # A 0..1 fraction despite its name, from each engine's system port (ai-dynamo 1.6.1
        # common/utils/prometheus.py, prometheus_names.py).
        kv_cache_usage=("dynamo_component_gpu_cache_usage_percent",),
        prompt_tokens_total=(),
        generation_tokens_total=("dynamo_frontend_output_tokens_total",),
        prompt_tokens_histogram=("dynamo_frontend_input_sequence_tokens",),
    ),
}


# A sample as we keep it: name, labels without `le`, `le` (or None), value.
_Sample = tuple[str, tuple[tuple[str, str], ...], str | None, float]

MAX_VALUE = 1e15
"""Larger than any real count, gauge or latency sum (10^15 tokens, requests or seconds); a sample beyond it is
garbled and refused, so sums of many such series can never overflow."""


def parse_metrics(text: str, runtime: Runtime) -> ParseResult:
    """Parse `/metrics` text of `runtime` into unified metrics; bad lines and inconsistent series become problems."""
    problems: list[ParseProblem] = []
    stamps: list[float] = []
    samples = _samples(text, problems, stamps)
    mapping = MAPPINGS[runtime]
    by_name: dict[str, list[_Sample]] = {}
    for sample in samples:
        by_name.setdefault(sample[0], []).append(sample)

    kv = _gauge(by_name, mapping.kv_cache_usage, problems, ratio=True)
    if kv is not None:
        kv = kv / mapping.kv_usage_scale
        if not 0.0 <= kv <= 1.0:
            problems.append(ParseProblem(f"KV-cache usage {kv} is outside 0..1", metric=mapping.kv_cache_usage[0]))
            kv = None
    prompt = _gauge(by_name, mapping.prompt_tokens_total, problems)
    if prompt is None and mapping.prompt_tokens_histogram:
        prompt = _gauge(by_name, tuple(n + "_sum" for n in mapping.prompt_tokens_histogram), problems)
    ttft = _histogram(by_name, mapping.time_to_first_token, problems)
    itl = _histogram(by_name, mapping.inter_token_latency, problems)
    printed = [
        (UnifiedMetric.TIME_TO_FIRST_TOKEN_SECONDS, ttft, mapping.time_to_first_token),
        (UnifiedMetric.INTER_TOKEN_LATENCY_SECONDS, itl, mapping.inter_token_latency),
    ]
    refused = frozenset(u for u, got, names in printed if got is None and any(n + "_bucket" in by_name for n in names))
    snapshot = MetricsSnapshot(
        time_to_first_token=ttft,
        inter_token_latency=itl,
        requests_running=_gauge(by_name, mapping.requests_running, problems),
        requests_waiting=_gauge(by_name, mapping.requests_waiting, problems),
        kv_cache_usage=kv,
        prompt_tokens_total=prompt,
        generation_tokens_total=_gauge(by_name, mapping.generation_tokens_total, problems),
        prefill_bootstrap_queue=_gauge(by_name, mapping.prefill_bootstrap_queue, problems),
        prefill_transfer_queue=_gauge(by_name, mapping.prefill_transfer_queue, problems),
        decode_prealloc_queue=_gauge(by_name, mapping.decode_prealloc_queue, problems),
        decode_transfer_queue=_gauge(by_name, mapping.decode_transfer_queue, problems),
        refused=refused,
    )
    sampled_at = max(stamps) if stamps else None
    return ParseResult(snapshot, tuple(problems), sampled_at)


def _samples(text: str, problems: list[ParseProblem], stamps: list[float]) -> list[_Sample]:
    try:
        return _sane(_flatten(text, stamps), problems)
    except Exception:  # the third-party parser's errors are not all ValueError: take the slow path for any
        stamps.clear()
    # The parser stops at the first bad line; find the bad lines one by one and parse the rest (slow path only).
    good: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            _flatten(stripped + "\n")
        except Exception as error:
            message = f"unparseable line skipped ({type(error).__name__}: {str(error)[:200]})"
            problems.append(ParseProblem(message, line=number, metric=_name_of(stripped)))
            continue
        good.append(stripped)
    try:
        return _sane(_flatten("\n".join(good) + "\n", stamps), problems)
    except Exception as error:  # lines fine alone but not together (e.g. a TYPE after its samples)
        problems.append(ParseProblem(f"text skipped: {type(error).__name__}: {str(error)[:200]}"))
        return []


def _sane(samples: list[_Sample], problems: list[ParseProblem]) -> list[_Sample]:
    """Leaves out samples with a value no runtime reports (±Inf, beyond ±MAX_VALUE); NaN is judged per metric."""
    kept = []
    for sample in samples:
        value = sample[3]
        if not math.isnan(value) and abs(value) > MAX_VALUE:
            problems.append(ParseProblem(f"value {value:.3g} is beyond {MAX_VALUE:.0e}; skipped", metric=sample[0]))
            continue
        kept.append(sample)
    return kept


def _flatten(text: str, stamps: list[float] | None = None) -> list[_Sample]:
    """The text's samples; with `stamps`, the newest finite sample timestamp is appended to it."""
    out: list[_Sample] = []
    newest: float | None = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            at = sample.timestamp
            if isinstance(at, int | float) and math.isfinite(at) and (newest is None or at > newest):
                newest = float(at)
            le = sample.labels.get("le")
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            value = sample.value
            # an integer too large for a float (a 1 and 309 zeros) becomes ±Inf, which `_sane` refuses
            if isinstance(value, int) and abs(value) >= 2**1000:
                value = math.copysign(math.inf, value)
            out.append((sample.name, labels, le, float(value)))
    if stamps is not None and newest is not None:
        stamps.append(newest)
    return out


def _name_of(line: str) -> str | None:
    if line.startswith("#"):
        parts = line.split()
        return parts[2] if len(parts) > 2 else None
    name = line.split("{", 1)[0].split(" ", 1)[0]
    return name or None


def _gauge(
    by_name: Mapping[str, list[_Sample]],
    names: Sequence[str],
    problems: list[ParseProblem],
    *,
    ratio: bool = False,
) -> float | None:
    for name in names:
        values = [value for _, _, _, value in by_name.get(name, ())]
        if not values:
            continue
        if any(math.isnan(v) or math.isinf(v) or v < 0 for v in values):
            problems.append(ParseProblem("not a finite non-negative value; metric skipped", metric=name))
            return None
        # Several series (engines, models) of one group add up; a usage ratio takes the fullest one.
        return max(values) if ratio else math.fsum(values)
    return None


def _histogram(
    by_name: Mapping[str, list[_Sample]], names: Sequence[str], problems: list[ParseProblem]
) -> Histogram | None:
    for name in names:
        buckets = by_name.get(name + "_bucket")
        if not buckets:
            continue
        series: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
        for _, labels, le, value in buckets:
            try:
                bound = float(le) if le is not None else math.nan
            except ValueError:
                bound = math.nan
            if math.isnan(bound):
                problem = f"bucket without a valid le label ({le!r}); histogram skipped"
                problems.append(ParseProblem(problem, metric=name))
                return None
            series.setdefault(labels, {})[bound] = value
        edges = sorted(next(iter(series.values())))
        if any(sorted(s) != edges for s in series.values()):
            problems.append(ParseProblem("series have different buckets; histogram skipped", metric=name))
            return None
        if not edges or edges[-1] != math.inf:
            problems.append(ParseProblem("no +Inf bucket (partial text?); histogram skipped", metric=name))
            return None
        cumulative = [math.fsum(s[e] for s in series.values()) for e in edges]
        if any(math.isnan(c) or c < 0 for c in cumulative) or any(b < a for a, b in itertools.pairwise(cumulative)):
            problems.append(ParseProblem("bucket counts are not cumulative; histogram skipped", metric=name))
            return None
        sums = [v for _, _, _, v in by_name.get(name + "_sum", ())]
        if not all(math.isfinite(v) for v in sums):
            problems.append(ParseProblem("_sum is not a finite number; histogram skipped", metric=name))
            return None
        total = math.fsum(sums)
        return Histogram(tuple(zip(edges, cumulative, strict=True)), count=cumulative[-1], sum=total)
    return None


def counter_increase(previous: float | None, current: float | None) -> float | None:
    """How much a counter grew between two scrapes; a drop means the process restarted, so all of `current` is new."""
    if current is None:
        return None
    if previous is None:
        return None
    return current if current < previous else current - previous


def histogram_increase(previous: Histogram | None, current: Histogram | None) -> Histogram | None:
    """The observations between two scrapes (like PromQL `increase`); a drop in any bucket is a counter reset.

    None without both: like PromQL, an increase needs two samples. A histogram with no earlier one to count from
    is not all new: that earlier scrape may have missed it (the caller knows when its process is younger)."""
    if current is None or previous is None:
        return None
    if previous.edges != current.edges:
        return current  # the runtime was restarted with other buckets: only the new process's counts are usable
    pairs = list(zip(previous.buckets, current.buckets, strict=True))
    if current.count < previous.count or any(c < p for (_, p), (_, c) in pairs):
        return current
    buckets = tuple((le, c - p) for (le, p), (_, c) in pairs)
    return Histogram(buckets, count=current.count - previous.count, sum=max(0.0, current.sum - previous.sum))


def merge_histograms(histograms: Iterable[Histogram | None]) -> Histogram | None:
    """Add histograms of several groups (same buckets); ones with other buckets are left out."""
    merged: Histogram | None = None
    for h in histograms:
        if h is None:
            continue
        if merged is None:
            merged = h
        elif merged.edges == h.edges:
            merged = replace(
                merged,
                buckets=tuple((le, a + b) for (le, a), (_, b) in zip(merged.buckets, h.buckets, strict=True)),
                count=merged.count + h.count,
                sum=merged.sum + h.sum,
            )
    return merged


def histogram_quantile(q: float, histogram: Histogram | None) -> float | None:
    """The q-quantile (0..1) with linear interpolation inside the bucket, as PromQL `histogram_quantile`.

    None when there are no observations. A rank in the +Inf bucket answers the highest finite bound, as PromQL does.
    """
    if histogram is None or not histogram.buckets:
        return None
    total = histogram.buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, cumulative in histogram.buckets:
        if cumulative >= rank:
            if math.isinf(upper):
                return lower
            if upper <= 0:
                return upper
            in_bucket = cumulative - below
            fraction = (rank - below) / in_bucket if in_bucket > 0 else 1.0
            return lower + (upper - lower) * fraction
        lower, below = upper, cumulative
    return lower
