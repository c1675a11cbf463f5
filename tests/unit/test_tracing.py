"""Tracing as configured by `ARKS_TRACE_EXPORTER`: without an exporter no span is recorded, yet a change's trace
context still rides on from the message that caused it to the messages it causes."""

from __future__ import annotations

import subprocess
import sys

# each case in a fresh interpreter: OpenTelemetry's tracer provider can be installed once per process
PROBE = """
import sys
from opentelemetry import trace
from arks_common.telemetry.tracing import extract_context, inject_headers, setup_tracing

setup_tracing("probe", sys.argv[1], sys.argv[2])
arrived = extract_context({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
with trace.get_tracer("probe").start_as_current_span("handle", context=arrived) as span:
    sent = inject_headers({})
    recording = span.is_recording()
print(recording, sent["traceparent"].split("-")[1])
"""


def _probe(exporter: str, trace_file: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, exporter, trace_file], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


def test_without_an_exporter_no_span_is_recorded_and_the_arriving_trace_passes_on(tmp_path: object) -> None:
    assert _probe("none", "") == ["False", "0af7651916cd43dd8448eb211c80319c"]


def test_with_an_exporter_spans_are_recorded_in_the_arriving_trace(tmp_path: object) -> None:
    assert _probe("jsonl", f"{tmp_path}/spans.jsonl") == ["True", "0af7651916cd43dd8448eb211c80319c"]
