"""The slo-scaler's metrics events on a real nats-server: a garbled scrape's problems are bounded, and an event too
large for a bus message (a hostile text's histogram of a hundred thousand buckets) is left out instead of breaking
the application's tick."""

from __future__ import annotations

import math

from nats.aio.client import Client

from arks_common.bus.jetstream import ensure_stream
from arks_common.events.contract import METRICS_STREAM
from arks_common.events.payloads import MetricsSample
from arks_slo_scaler.core.decide import ScalerConfig
from arks_slo_scaler.core.metrics import Histogram, MetricsSnapshot
from arks_slo_scaler.core.samples import PROBLEMS_KEPT, kept_problems, to_sample
from arks_slo_scaler.scaling import SloScaler


def _sample(buckets: int, problems: int) -> MetricsSample:
    edges = [(float(i), float(i)) for i in range(1, buckets + 1)] + [(math.inf, float(buckets))]
    snapshot = MetricsSnapshot(time_to_first_token=Histogram(tuple(edges), count=float(buckets), sum=1.0))
    garbled = [f"line {i}: vllm:num_requests_running: not a number: {'x' * 2000}" for i in range(problems)]
    return to_sample("ns", "chat", "u1", "0", "vllm", 1_800_000_000.0, snapshot, garbled)


def test_a_scrapes_problems_are_named_up_to_a_bound() -> None:
    problems = [f"line {i}: garbled" for i in range(100_000)] + ["y" * 10_000]
    kept = kept_problems(problems)
    assert len(kept) == PROBLEMS_KEPT + 1
    assert kept[-1] == f"… and {100_001 - PROBLEMS_KEPT} more"
    assert kept_problems(["y" * 10_000])[0] == "y" * 300 + "…"


async def test_a_metrics_event_too_large_for_a_bus_message_is_left_out(nats_client: Client) -> None:
    js = nats_client.jetstream()
    await ensure_stream(js, METRICS_STREAM)
    scaler = SloScaler(None, js, None, None, 15.0, ScalerConfig(), lambda: True)  # type: ignore[arg-type]
    await scaler._tell(_sample(buckets=100_000, problems=100_000), "metrics:u1:0:1")
    await scaler._tell(_sample(buckets=20, problems=100_000), "metrics:u1:0:2")
    info = await js.stream_info(METRICS_STREAM.name)
    assert info.state.messages == 1  # the ordinary one, its problems bounded; the huge one left out
