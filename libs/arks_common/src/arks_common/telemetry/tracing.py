"""OpenTelemetry tracing: one trace follows a change across services through W3C `traceparent` headers."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter


def setup_tracing(service: str, exporter: str, extra_processor: SpanProcessor | None = None) -> None:
    """Installs the global tracer provider; `exporter` is `none`, `console` or `otlp` (OTEL_* env vars)."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"arks-{service}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Adds the current trace context to message headers (returns the same dict)."""
    propagate.inject(headers)
    return headers


def extract_context(headers: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(headers or {}))
