"""The emulator's SGLang and Dynamo `/metrics` parse, with the slo-scaler's parser, to the counters it kept; Dynamo's
edges are written as Rust writes them (`le="1"`) and its KV usage comes from the system status text."""

from __future__ import annotations

from dataclasses import replace

import pytest
from emulator.formats import DYNAMO_TTFT, counters_for, dynamo_log_buckets, render, render_dynamo_system

from arks_common.api.application import Runtime
from arks_slo_scaler.core.metrics import parse_metrics


@pytest.mark.parametrize("runtime", [Runtime.VLLM, Runtime.SGLANG, Runtime.DYNAMO], ids=str)
def test_each_format_parses_back_to_the_counters(runtime: Runtime) -> None:
    counters = counters_for(runtime.value)
    for seconds in (0.05, 0.3, 0.9, 2.5):
        counters.observe_ttft(seconds)
        if counters.prompt_lengths is not None:
            counters.prompt_lengths.append(256)
    counters.observe_itl(0.02, 50)
    counters.prompt_tokens, counters.generation_tokens = 1024.0, 54.0
    text = render(runtime.value, counters, "m", running=3, waiting=1, kv_usage=0.25)
    if runtime is Runtime.DYNAMO:
        text += render_dynamo_system("ns-app", kv_usage=0.25)
    result = parse_metrics(text, runtime)
    assert result.problems == ()
    want = counters.snapshot(running=3, waiting=1, kv_usage=0.25)
    if runtime is Runtime.DYNAMO:  # its frontend counts queued requests as in flight
        want = replace(want, requests_running=4.0)
    assert result.snapshot == want


def test_dynamo_edges_follow_its_log_buckets_and_rust_spelling() -> None:
    assert DYNAMO_TTFT[:3] == (0.0, 0.0022, 0.0047)
    assert DYNAMO_TTFT[-1] == 480.0
    assert 1.0 in DYNAMO_TTFT
    assert dynamo_log_buckets(0.001, 2.0, 13)[-1] == 2.0
    text = render("dynamo", counters_for("dynamo"), "m", running=0, waiting=0, kv_usage=0.0)
    assert 'dynamo_frontend_time_to_first_token_seconds_bucket{model="m",le="1"}' in text
    assert 'le="1.0"' not in text
