"""Event payloads (msgspec structs), wrapped in one envelope that carries the schema version.

An event says "this object changed" and carries its latest full state; consumers act on that state, not on
a delta, so a duplicated, lost or reordered event cannot leave the cluster wrong.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

SCHEMA_VERSION = 1
"""Bumped on an incompatible change; consumers refuse (dead-letter) versions newer than they know."""


class ObjectKind(StrEnum):
    """Kinds of Kubernetes objects whose changes the watcher publishes."""

    APPLICATION = "application"
    MODEL = "model"
    LEADERWORKERSET = "leaderworkerset"
    SERVICE = "service"
    POD = "pod"
    JOB = "job"
    PVC = "pvc"
    ENDPOINT = "endpoint"


class ObjectRef(msgspec.Struct, frozen=True, kw_only=True):
    """Which object an event is about."""

    kind: ObjectKind
    namespace: str
    name: str
    uid: str = ""


class ObjectChanged(msgspec.Struct, frozen=True, kw_only=True, tag="object.changed"):
    """An object was added, modified or deleted; `object` is its full latest state (the last one on delete)."""

    ref: ObjectRef
    resource_version: str
    generation: int = 0
    deleted: bool = False
    object: dict[str, Any] = msgspec.field(default_factory=dict)


class PrecheckResult(msgspec.Struct, frozen=True, kw_only=True):
    passed: bool
    reason: str
    message: str


class PlannedRole(msgspec.Struct, frozen=True, kw_only=True):
    """One role of an application's plan (`serve`, or `prefill`/`decode`...) and where its replica count lives.

    The plan carries no replica counts, so a scale never needs a new plan: the deployer reads the count of a
    role from the application at `replicas_from` (a JSON pointer such as `/spec/replicas`) or, when the role is
    `autoscaled` and autoscaling is on, from the slo-scaler's decision in the application's status."""

    name: str
    replicas_from: str
    autoscaled: bool = False
    autoscaling_from: str = "/spec/autoscaling"
    """Where the role's autoscaling spec lives (its min/max); PD roles: `/spec/<role>/autoscaling`."""
    decision_from: str = "/status/autoscaling/desiredReplicas"
    """Where the slo-scaler's decision for the role lives; PD roles: `/status/autoscaling/<role>/desiredReplicas`."""


class PlanReady(msgspec.Struct, frozen=True, kw_only=True, tag="plan.ready"):
    """The planner's verdict on one generation of an application: precheck and, when it passed, the objects.

    `objects` are the desired objects, each keyed by (kind, metadata.name) and labelled with its application
    and role (`arks.ai/role`); they carry owner references and the plan hash, and no replica counts."""

    ref: ObjectRef
    generation: int
    resource_version: str
    precheck: PrecheckResult
    plan_hash: str = ""
    objects: list[dict[str, Any]] = msgspec.field(default_factory=list)
    roles: list[PlannedRole] = msgspec.field(default_factory=list)
    inputs: str = ""
    """A digest of what the verdict was computed from (the generation, the ArksModel's resourceVersion, the
    runtime profiles): equal inputs let the planner skip re-planning."""


class EndpointPlanReady(msgspec.Struct, frozen=True, kw_only=True, tag="endpoint-plan.ready"):
    """The planner's plan for one generation of an ArksEndpoint: its router's objects, each labelled with the
    endpoint and owned by it, stamped with the plan hash."""

    ref: ObjectRef
    generation: int
    plan_hash: str
    objects: list[dict[str, Any]] = msgspec.field(default_factory=list)


class ScaleDirection(StrEnum):
    UP = "Up"
    DOWN = "Down"
    HOLD = "Hold"


class ScaleDecision(msgspec.Struct, frozen=True, kw_only=True, tag="scale.decision"):
    """The slo-scaler's decision for an application: the number of replica groups it should have."""

    ref: ObjectRef
    generation: int
    desired_replicas: int
    current_replicas: int
    direction: ScaleDirection
    reason: str
    message: str
    decided_at: datetime
    role: str = "serve"
    """The role decided for: `serve`, or `prefill`/`decode` of PD-separated serving."""


class HistogramSample(msgspec.Struct, frozen=True, kw_only=True):
    """A cumulative histogram: `buckets` are (upper bound as Prometheus writes it, e.g. "0.5" or "+Inf", count)."""

    buckets: list[tuple[str, float]]
    count: float
    sum: float


class MetricsSample(msgspec.Struct, frozen=True, kw_only=True, tag="metrics.sample"):
    """One scrape of one replica group's leader, in the unified names and units (seconds, ratios 0..1)."""

    ref: ObjectRef
    group: str
    runtime: str
    scraped_at: datetime
    time_to_first_token_seconds: HistogramSample | None = None
    inter_token_latency_seconds: HistogramSample | None = None
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_usage_ratio: float | None = None
    prompt_tokens_total: float | None = None
    generation_tokens_total: float | None = None
    problems: list[str] = msgspec.field(default_factory=list)


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, tag="dead.letter"):
    """A message a consumer gave up on, kept with why, so nothing is lost silently."""

    stream: str
    consumer: str
    subject: str
    stream_sequence: int
    deliveries: int
    error: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    payload: bytes = b""
    """The message as it came, cut to its first DEAD_LETTER_PAYLOAD_BYTES so the letter itself fits the bus."""
    payload_size: int = 0
    """The message's full size in bytes (larger than `payload` when it was cut)."""


DEAD_LETTER_PAYLOAD_BYTES = 256 * 1024

Payload = ObjectChanged | PlanReady | EndpointPlanReady | ScaleDecision | MetricsSample | DeadLetter


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """What every message on `arks.>` carries: schema version, id (= `Nats-Msg-Id`), source, time, data."""

    schema_version: int = SCHEMA_VERSION
    id: str
    source: str
    time: datetime
    data: Payload


class UnsupportedSchema(ValueError):
    """The envelope's schema version is newer than this program understands."""


class _Head(msgspec.Struct):
    schema_version: int = SCHEMA_VERSION


_encoder = msgspec.json.Encoder()
_head_decoder = msgspec.json.Decoder(_Head)
_decoder = msgspec.json.Decoder(Envelope)


def encode(envelope: Envelope) -> bytes:
    return _encoder.encode(envelope)


def decode(raw: bytes) -> Envelope:
    """Parses one message; raises msgspec.DecodeError/ValidationError or UnsupportedSchema on bad input."""
    try:
        version = _head_decoder.decode(raw).schema_version  # first, so a newer shape is named as such
        if version > SCHEMA_VERSION or version < 1:
            raise UnsupportedSchema(f"schema_version {version} is not supported (this build reads 1..{SCHEMA_VERSION})")
        return _decoder.decode(raw)
    except UnicodeDecodeError as exc:  # msgspec checks UTF-8 only when it builds a str
        raise msgspec.DecodeError(f"invalid UTF-8 in a string: {exc}") from exc
    except RecursionError as exc:  # msgspec walks nesting on the C stack, with Python's recursion limit
        raise msgspec.DecodeError("nested too deep to decode") from exc


def payload_types() -> tuple[type[msgspec.Struct], ...]:
    return (ObjectChanged, PlanReady, EndpointPlanReady, ScaleDecision, MetricsSample, DeadLetter)
