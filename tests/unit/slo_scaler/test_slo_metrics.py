"""The unified metrics interface: runtime names map to ours on real-format text; bad text is reported, not fatal."""

from __future__ import annotations

import math

import pytest
from unit.slo_scaler.builders import (
    VLLM_ITL_EDGES,
    VLLM_LABELS,
    VLLM_TTFT_EDGES,
    dynamo_text,
    gauge_text,
    histogram,
    histogram_text,
    ramp,
    sglang_text,
    vllm_text,
)

from arks_common.api.application import Runtime
from arks_slo_scaler.adapters.metrics_source import extra_metrics_ports
from arks_slo_scaler.core.metrics import (
    MAPPINGS,
    UnifiedMetric,
    counter_increase,
    histogram_increase,
    histogram_quantile,
    merge_histograms,
    parse_metrics,
)


@pytest.mark.parametrize(
    ("runtime", "text", "running", "waiting", "kv", "prompt", "generated", "ttft_count", "itl_count"),
    [
        pytest.param(Runtime.VLLM, vllm_text(), 7, 3, 0.25, 12000, 3400, 22, 190, id="vllm v1 names map to ours"),
        pytest.param(
            Runtime.VLLM,
            vllm_text(itl_name="vllm:time_per_output_token_seconds", kv_name="vllm:gpu_cache_usage_perc"),
            7,
            3,
            0.25,
            12000,
            3400,
            22,
            190,
            id="vllm older time_per_output_token and gpu_cache_usage names still map",
        ),
        pytest.param(
            Runtime.SGLANG, sglang_text(), 12, 2, 0.28, 8.128902e06, 7.557572e06, 10, 70, id="sglang names map to ours"
        ),
        pytest.param(
            Runtime.DYNAMO,
            dynamo_text(),
            4,
            1,
            0.5,
            30000,
            5000,
            13,
            13,
            id="dynamo frontend names map, prompt tokens from the input-length histogram sum",
        ),
    ],
)
def test_runtime_metrics_map_to_unified_names(
    runtime: Runtime,
    text: str,
    running: float,
    waiting: float,
    kv: float,
    prompt: float,
    generated: float,
    ttft_count: float,
    itl_count: float,
) -> None:
    result = parse_metrics(text, runtime)
    s = result.snapshot
    assert result.problems == ()
    assert (s.requests_running, s.requests_waiting, s.kv_cache_usage) == (running, waiting, kv)
    assert (s.prompt_tokens_total, s.generation_tokens_total) == (prompt, generated)
    assert s.time_to_first_token is not None
    assert s.inter_token_latency is not None
    assert (s.time_to_first_token.count, s.inter_token_latency.count) == (ttft_count, itl_count)
    assert s.time_to_first_token.edges[-1] == math.inf


def test_the_newest_name_wins_when_a_runtime_exposes_both() -> None:
    text = vllm_text() + histogram_text(
        "vllm:time_per_output_token_seconds", VLLM_LABELS, VLLM_ITL_EDGES, ramp(VLLM_ITL_EDGES, 1), 1.0
    )
    itl = parse_metrics(text, Runtime.VLLM).snapshot.inter_token_latency
    assert itl is not None
    assert itl.count == 190


def test_every_runtime_maps_every_unified_metric_but_dynamo_kv_comes_from_the_worker() -> None:
    assert set(MAPPINGS) == set(Runtime)
    assert len(UnifiedMetric) == 11  # 7 for every runtime, 4 queues of PD-separated serving
    assert MAPPINGS[Runtime.DYNAMO].kv_cache_usage == ("dynamo_component_gpu_cache_usage_percent",)


def test_two_engines_of_one_group_add_up() -> None:
    text = (
        gauge_text("vllm:num_requests_running", 'engine="0",model_name="m"', 3)
        + 'vllm:num_requests_running{engine="1",model_name="m"} 4\n'
    )
    assert parse_metrics(text, Runtime.VLLM).snapshot.requests_running == 7


@pytest.mark.parametrize(
    ("text", "line", "metric", "survivor"),
    [
        pytest.param(
            vllm_text().replace("vllm:num_requests_waiting{", "vllm:num_requests_waiting{{", 1),
            6,
            "vllm:num_requests_waiting",
            "running",
            id="a garbled sample line is reported with its line and skipped, the rest parses",
        ),
        pytest.param(
            vllm_text().replace("# TYPE vllm:num_requests_running gauge", "# TYPE vllm:num_requests_running gaueg"),
            2,
            "vllm:num_requests_running",
            "running",
            id="a bad TYPE line is reported and skipped",
        ),
        pytest.param(
            vllm_text() + 'vllm:num_requests_running{engine="0",model_name="llama"',
            None,
            None,
            "waiting",
            id="text cut off in the middle of the last line is reported",
        ),
        pytest.param(
            vllm_text().replace(
                'vllm:prompt_tokens_total{engine="0",model_name="llama"} 12000',
                'vllm:prompt_tokens_total{engine="0",model_name="llama"} twelve',
            ),
            None,
            "vllm:prompt_tokens_total",
            "running",
            id="a value that is not a number is reported",
        ),
    ],
)
def test_garbled_text_is_reported_and_skipped_never_raised(
    text: str, line: int | None, metric: str | None, survivor: str
) -> None:
    result = parse_metrics(text, Runtime.VLLM)
    assert result.problems, "a problem must be reported"
    if line is not None:
        assert any(p.line == line for p in result.problems)
    if metric is not None:
        assert any(p.metric == metric for p in result.problems)
    s = result.snapshot
    assert (s.requests_running if survivor == "running" else s.requests_waiting) is not None
    assert s.time_to_first_token is not None


def test_a_histogram_cut_before_its_inf_bucket_is_skipped_and_reported() -> None:
    full = histogram_text("vllm:time_to_first_token_seconds", VLLM_LABELS, VLLM_TTFT_EDGES, ramp(VLLM_TTFT_EDGES), 1.0)
    partial = "\n".join(full.splitlines()[:8]) + "\n"
    result = parse_metrics(partial + gauge_text("vllm:num_requests_running", VLLM_LABELS, 2), Runtime.VLLM)
    assert result.snapshot.time_to_first_token is None
    assert result.snapshot.requests_running == 2
    assert [p.metric for p in result.problems] == ["vllm:time_to_first_token_seconds"]
    assert "+Inf" in str(result.problems[0])


def test_non_cumulative_buckets_are_rejected() -> None:
    counts = ramp(VLLM_TTFT_EDGES)
    counts[3] = 0.0
    text = histogram_text("vllm:time_to_first_token_seconds", VLLM_LABELS, VLLM_TTFT_EDGES, counts, 1.0)
    result = parse_metrics(text, Runtime.VLLM)
    assert result.snapshot.time_to_first_token is None
    assert "cumulative" in result.problems[0].message


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param(
            gauge_text("vllm:kv_cache_usage_perc", VLLM_LABELS, 1.7), "outside", id="a usage above 1 is refused"
        ),
        pytest.param(gauge_text("vllm:kv_cache_usage_perc", VLLM_LABELS, float("nan")), "finite", id="NaN is refused"),
    ],
)
def test_impossible_values_are_refused(text: str, why: str) -> None:
    result = parse_metrics(text, Runtime.VLLM)
    assert result.snapshot.kv_cache_usage is None
    assert why in result.problems[0].message


def test_empty_text_is_no_data_and_no_problem() -> None:
    result = parse_metrics("", Runtime.SGLANG)
    assert result.problems == ()
    assert result.snapshot.time_to_first_token is None


EDGES = (0.1, 0.25, 0.5, 1.0)


@pytest.mark.parametrize(
    ("q", "cumulative", "expected"),
    [
        pytest.param(0.5, [0, 10, 10, 10, 10], 0.175, id="interpolates linearly inside the bucket"),
        pytest.param(0.9, [50, 80, 90, 100, 100], 0.5, id="a rank on a bucket edge answers the edge"),
        pytest.param(0.5, [10, 10, 10, 10, 10], 0.05, id="the first bucket starts at zero"),
        pytest.param(0.99, [0, 0, 0, 10, 20], 1.0, id="a rank in the +Inf bucket answers the highest finite edge"),
        pytest.param(0.9, [0, 0, 0, 0, 0], None, id="no observations, no percentile"),
    ],
)
def test_histogram_quantile_is_promql_histogram_quantile(
    q: float, cumulative: list[float], expected: float | None
) -> None:
    got = histogram_quantile(q, histogram(EDGES, cumulative))
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_percentile_from_the_bucket_deltas_between_two_scrapes() -> None:
    before = histogram(EDGES, [100, 100, 100, 100, 100])  # an old, fast past
    after = histogram(EDGES, [100, 100, 110, 200, 200])  # then 100 slow requests
    delta = histogram_increase(before, after)
    assert delta is not None
    assert delta.count == 100
    assert histogram_quantile(0.9, delta) == pytest.approx(0.5 + 0.5 * (90 - 10) / 90)
    assert histogram_quantile(0.9, after) < histogram_quantile(0.9, delta)  # type: ignore[operator]


def test_a_counter_reset_between_scrapes_counts_only_the_new_process() -> None:
    before = histogram(EDGES, [500, 600, 700, 800, 800])
    after = histogram(EDGES, [5, 6, 7, 8, 8])
    assert histogram_increase(before, after) == after
    assert counter_increase(1000.0, 30.0) == 30.0
    assert counter_increase(1000.0, 1030.0) == 30.0
    assert counter_increase(None, 5.0) is None


def test_groups_with_the_same_buckets_merge_others_are_left_out() -> None:
    a = histogram(EDGES, [1, 2, 3, 4, 4])
    b = histogram(EDGES, [0, 0, 1, 1, 1])
    other = histogram((1.0, 2.0), [1, 1, 1])
    merged = merge_histograms([a, None, b, other])
    assert merged is not None
    assert merged.count == 5
    assert merged.buckets[2] == (0.5, 4)


def test_a_pods_metrics_port_is_scraped_beside_the_http_port() -> None:
    dynamo_leader = {
        "spec": {
            "containers": [
                {"ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]}
            ]
        }
    }
    assert extra_metrics_ports(dynamo_leader) == [9090]
    assert extra_metrics_ports({"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}}) == []
    assert extra_metrics_ports({}) == []
