"""PD-separated serving's runtime metrics in the unified interface: SGLang's disaggregation queue gauges (both
names of the prefill bootstrap queue), a Dynamo prefill/decode worker's engine metrics passed through its system
port, and the emulator's PD modes printing them the same way (parsed back with the slo-scaler's parser)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from autoscaling.sim.steptime import fit
from emulator.engine import EngineConfig, GroupEngine
from emulator.formats import PdQueues, counters_for, render, render_dynamo_worker
from unit.slo_scaler.builders import SGLANG_LABELS, gauge_text, sglang_text, vllm_text

from arks_common.api.application import ArksApplicationSpec, Runtime
from arks_slo_scaler.adapters.metrics_source import scrape_ports
from arks_slo_scaler.core.metrics import parse_metrics
from arks_slo_scaler.core.roles import engine_runtime


@pytest.mark.parametrize(
    "bootstrap_name", ["sglang:num_prefill_bootstrap_queue_reqs", "sglang:num_prefill_prealloc_queue_reqs"]
)
def test_sglang_prefill_queues(bootstrap_name: str) -> None:
    text = (
        sglang_text()
        + gauge_text(bootstrap_name, SGLANG_LABELS, 4)
        + gauge_text("sglang:num_prefill_inflight_queue_reqs", SGLANG_LABELS, 3)
    )
    result = parse_metrics(text, Runtime.SGLANG)
    assert result.problems == ()
    snap = result.snapshot
    assert (snap.prefill_bootstrap_queue, snap.prefill_transfer_queue) == (4, 3)
    assert (snap.decode_prealloc_queue, snap.decode_transfer_queue) == (None, None)
    assert snap.requests_waiting == 2  # the waiting queue stays what it was


def test_sglang_decode_queues_and_a_broken_gauge_is_reported() -> None:
    text = (
        sglang_text()
        + gauge_text("sglang:num_decode_prealloc_queue_reqs", SGLANG_LABELS, 7)
        + gauge_text("sglang:num_decode_transfer_queue_reqs", SGLANG_LABELS, 1)
    )
    snap = parse_metrics(text, Runtime.SGLANG).snapshot
    assert (snap.decode_prealloc_queue, snap.decode_transfer_queue) == (7, 1)
    broken = parse_metrics(sglang_text() + gauge_text("sglang:num_decode_transfer_queue_reqs", SGLANG_LABELS, -1),
                           Runtime.SGLANG)  # fmt: skip
    assert broken.snapshot.decode_transfer_queue is None
    assert [p.metric for p in broken.problems] == ["sglang:num_decode_transfer_queue_reqs"]


def _spec(runtime: str, backend: str | None = None) -> ArksApplicationSpec:
    extra: dict[str, Any] = {"dynamo": {"backend": backend}} if backend else {}
    return ArksApplicationSpec.model_validate({"runtime": runtime, "model": {"name": "m"}, **extra})


def test_a_dynamo_pd_worker_is_read_from_its_engines_metrics_on_the_system_port() -> None:
    worker = vllm_text() + gauge_text("dynamo_component_gpu_cache_usage_percent", 'dynamo_component="backend"', 0.6)
    assert engine_runtime(_spec("dynamo"), "prefill") is Runtime.VLLM
    assert engine_runtime(_spec("dynamo"), "decode") is Runtime.VLLM
    assert engine_runtime(_spec("dynamo"), "serve") is Runtime.DYNAMO
    assert engine_runtime(_spec("sglang"), "decode") is Runtime.SGLANG
    parsed = parse_metrics(worker, engine_runtime(_spec("dynamo"), "decode"))
    assert parsed.problems == ()
    assert parsed.snapshot == parse_metrics(vllm_text(), Runtime.VLLM).snapshot
    assert parsed.snapshot.time_to_first_token is not None
    # read as the Dynamo frontend it would have no latency at all: the reason for the engine's mapping
    assert parse_metrics(worker, Runtime.DYNAMO).snapshot.time_to_first_token is None


def test_a_dynamo_sglang_pd_worker_is_read_with_sglangs_names_and_its_pd_queues() -> None:
    """dynamo.sglang's system port passes SGLang's `sglang:*` through beside `dynamo_component_*`."""
    spec = _spec("dynamo", "sglang")
    assert engine_runtime(spec, "prefill") is Runtime.SGLANG
    assert engine_runtime(spec, "decode") is Runtime.SGLANG
    assert engine_runtime(spec, "serve") is Runtime.DYNAMO  # the aggregated leader: its frontend's names
    worker = (
        sglang_text()
        + gauge_text("dynamo_component_gpu_cache_usage_percent", 'dynamo_component="backend"', 0.6)
        + gauge_text("sglang:num_decode_transfer_queue_reqs", SGLANG_LABELS, 3)
    )
    parsed = parse_metrics(worker, engine_runtime(spec, "decode"))
    assert parsed.problems == ()
    assert parsed.snapshot.inter_token_latency is not None
    assert parsed.snapshot.kv_cache_usage == parse_metrics(sglang_text(), Runtime.SGLANG).snapshot.kv_cache_usage
    assert parsed.snapshot.decode_transfer_queue == 3
    # read with vLLM's names, as before the backend was known, it has no latency at all
    assert parse_metrics(worker, Runtime.VLLM).snapshot.inter_token_latency is None


def test_the_emulator_prints_each_roles_queues_as_sglang_does() -> None:
    counters = counters_for("sglang", "prefill")
    prefill = render("sglang", counters, "m", running=1, waiting=2, kv_usage=0.1,
                     pd_queues=PdQueues(prefill_bootstrap=0, prefill_inflight=5))  # fmt: skip
    decode = render("sglang", counters, "m", running=1, waiting=6, kv_usage=0.1,
                    pd_queues=PdQueues(decode_prealloc=6, decode_transfer=2))  # fmt: skip
    p, d = parse_metrics(prefill, Runtime.SGLANG), parse_metrics(decode, Runtime.SGLANG)
    assert (p.problems, d.problems) == ((), ())
    assert (p.snapshot.prefill_bootstrap_queue, p.snapshot.prefill_transfer_queue, p.snapshot.requests_waiting) == (
        0, 5, 2,
    )  # fmt: skip
    assert (d.snapshot.decode_prealloc_queue, d.snapshot.decode_transfer_queue, d.snapshot.requests_waiting) == (
        6, 2, 0,
    )  # fmt: skip
    worker = parse_metrics(render_dynamo_worker(counters_for("dynamo", "decode"), running=1, waiting=0,
                                                kv_usage=0.4), Runtime.VLLM)  # fmt: skip
    assert worker.problems == ()
    assert worker.snapshot.kv_cache_usage == 0.4


def test_emulated_prefill_answers_after_the_first_token_and_decode_skips_the_prompt() -> None:
    async def run() -> tuple[float, float, float, float]:
        config = EngineConfig(slowdown=1.0, runtime="sglang", kv_transfer_ms_per_token=0.0)
        prefill = GroupEngine(fit(), replace(config, disaggregation="prefill"), counters_for("sglang", "prefill"))
        decode = GroupEngine(fit(), replace(config, disaggregation="decode"), counters_for("sglang", "decode"))
        prefill.start("prefill")
        decode.start("decode")
        try:
            p = await prefill.complete(4096, 64)
            d = await decode.complete(4096, 8)
        finally:
            await prefill.close()
            await decode.close()
        return p.completion_tokens, d.completion_tokens, prefill.counters.prompt_tokens, decode.counters.prompt_tokens

    prefill_tokens, decode_tokens, prefill_prompt, decode_prompt = asyncio.run(run())
    assert (prefill_tokens, decode_tokens) == (1, 8)
    assert (prefill_prompt, decode_prompt) == (4096, 0)  # decode receives the KV cache, computes no prompt


def _pod(role: str, *ports: tuple[str, int]) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"arks.ai/role": role}},
        "spec": {"containers": [{"ports": [{"name": n, "containerPort": p} for n, p in ports]}]},
    }


def test_a_pd_worker_with_a_metrics_port_is_scraped_there_only() -> None:
    assert scrape_ports(_pod("prefill", ("metrics", 9090)), 8080) == [9090]  # a Dynamo worker: no HTTP server
    assert scrape_ports(_pod("decode", ("metrics", 9090)), 8080) == [9090]
    assert scrape_ports(_pod("decode"), 8080) == [8080]  # an SGLang decode server serves its /metrics itself
    assert scrape_ports(_pod("serve", ("metrics", 9090)), 8080) == [8080, 9090]  # aggregated Dynamo: both
    assert scrape_ports(_pod("router", ("metrics", 9090)), 8080) == [8080, 9090]
    assert scrape_ports({}, 8080) == [8080]
