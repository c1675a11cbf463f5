"""OpenTelemetry tracing: one trace follows a change across services through W3C `traceparent` headers."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)


class JsonLinesSpanExporter(SpanExporter):
    """One JSON line per finished span (ids in hex): lets tests and local runs read traces without a backend."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            if ctx is None:
                continue
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "service": span.resource.attributes.get("service.name"),
                        "trace_id": f"{ctx.trace_id:032x}",
                        "span_id": f"{ctx.span_id:016x}",
                        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                        "attributes": dict(span.attributes or {}),
                        # wall-clock seconds, so a local run can lay one change's steps out in time
                        "start": (span.start_time or 0) / 1e9,
                        "end": (span.end_time or 0) / 1e9,
                    },
                    default=str,
                )
            )
        with self._lock, self._path.open("a") as out:
            out.writelines(line + "\n" for line in lines)
        return SpanExportResult.SUCCESS


def setup_tracing(service: str, exporter: str, trace_file: str | None = None) -> None:
    """Installs the global tracer provider; `exporter` is `none`, `console`, `otlp` (OTEL_* env vars) or
    `jsonl` (one line per span appended to `trace_file`). With `none` nothing is installed: OpenTelemetry's default
    tracer records no span (a span per API request and per message was ~5% of a busy deployer's CPU, for nobody),
    and a trace context that arrives in a message's headers is still passed on with the messages it causes."""
    if exporter == "none":
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"arks-{service}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "jsonl":
        if not trace_file:
            raise ValueError("ARKS_TRACE_EXPORTER=jsonl needs ARKS_TRACE_FILE")
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(trace_file)))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Adds the current trace context to message headers (returns the same dict)."""
    propagate.inject(headers)
    return headers


def extract_context(headers: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(headers or {}))
