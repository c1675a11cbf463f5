"""The one place that names every subject, stream, consumer and who may publish what.

Services build subjects only through these declarations; the AsyncAPI document (`arks_common.asyncapi`) and
the NATS permissions are generated from them, so the picture cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import msgspec

from arks_common.events.payloads import (
    DeadLetter,
    EndpointPlanReady,
    MetricsSample,
    ObjectChanged,
    ObjectKind,
    ObjectRef,
    PlanReady,
    ScaleDecision,
)
from arks_common.events.tokens import decode_token, encode_token

ROOT = "arks"


class Service(StrEnum):
    WATCHER = "watcher"
    PLANNER = "planner"
    DEPLOYER = "deployer"
    MODEL_LOADER = "model-loader"
    SLO_SCALER = "slo-scaler"


@dataclass(frozen=True)
class Channel:
    """A family of subjects `arks.<name>.<token>...`, one payload type, and the services that publish it."""

    name: str
    params: tuple[str, ...]
    payload: type[msgspec.Struct]
    publishers: frozenset[Service]
    description: str
    partition_at: int | None = None
    """Where the stream stores a partition token among the params (None: the channel is not partitioned). The
    token is a hash of the namespace and name (`events.partitions`), so an application's events, its plan and its
    scale decisions land in partitions of the same number."""

    def subject(self, *values: str) -> str:
        if len(values) != len(self.params):
            raise ValueError(f"channel {self.name} takes {self.params}, got {values}")
        return ".".join([ROOT, self.name, *(encode_token(v) for v in values)])

    @property
    def wildcard(self) -> str:
        return f"{ROOT}.{self.name}.>"

    @property
    def address(self) -> str:
        """The AsyncAPI channel address, with `{param}` placeholders."""
        return ".".join([ROOT, self.name, *(f"{{{p}}}" for p in self.params)])

    def stored(self, *values: str) -> str:
        """The subject as the stream stores it, whatever its partition (`*`): to read or purge it."""
        subject = self.subject(*values)
        if self.partition_at is None:
            return subject
        parts = subject.split(".")
        return ".".join([*parts[: 2 + self.partition_at], "*", *parts[2 + self.partition_at :]])

    def parse(self, subject: str) -> dict[str, str]:
        """The decoded parameters of a concrete subject of this channel, as published or as stored (with its
        partition token); ValueError if it is not one."""
        parts = subject.split(".")
        if parts[:2] != [ROOT, self.name]:
            raise ValueError(f"subject {subject!r} is not on channel {self.address}")
        tokens = parts[2:]
        if self.partition_at is not None and len(tokens) == len(self.params) + 1:
            if not tokens[self.partition_at].isdigit():
                raise ValueError(f"subject {subject!r} has no partition where channel {self.address} keeps it")
            del tokens[self.partition_at]
        if len(tokens) != len(self.params):
            raise ValueError(f"subject {subject!r} is not on channel {self.address}")
        return {p: decode_token(t) for p, t in zip(self.params, tokens, strict=True)}

    def published(self, subject: str) -> str:
        """The subject a stored one was published on (its partition token removed)."""
        params = self.parse(subject)
        return self.subject(*(params[p] for p in self.params))


OBJECTS = Channel(
    name="object",
    params=("kind", "namespace", "name"),
    payload=ObjectChanged,
    publishers=frozenset({Service.WATCHER}),
    description="An object Arks watches changed; the payload is its full latest state.",
    partition_at=1,
)
PLANS = Channel(
    name="plan",
    params=("namespace", "name"),
    payload=PlanReady,
    publishers=frozenset({Service.PLANNER}),
    description="The planner's precheck verdict and deployment plan for one generation of an application.",
    partition_at=0,
)
ENDPOINT_PLANS = Channel(
    name="endpointplan",
    params=("namespace", "name"),
    payload=EndpointPlanReady,
    publishers=frozenset({Service.PLANNER}),
    description="The planner's plan (the router's objects) for one generation of an ArksEndpoint.",
    partition_at=0,
)
SCALE = Channel(
    name="scale",
    params=("namespace", "name"),
    payload=ScaleDecision,
    publishers=frozenset({Service.SLO_SCALER}),
    description="The slo-scaler's replica decision for an application, with its reason.",
    partition_at=0,
)
METRICS = Channel(
    name="metrics",
    params=("namespace", "name"),
    payload=MetricsSample,
    publishers=frozenset({Service.SLO_SCALER}),
    description="Unified runtime metrics of an application's replica groups, one message per group and scrape.",
)
DEAD_LETTERS = Channel(
    name="dead",
    params=("service", "consumer"),
    payload=DeadLetter,
    publishers=frozenset(Service),
    description="Messages a consumer gave up on (poison or past max_deliver), kept with the error.",
)
CHANNELS = (OBJECTS, PLANS, ENDPOINT_PLANS, SCALE, METRICS, DEAD_LETTERS)


def inbox_prefix(service: Service | str) -> str:
    """The service's (or program's) own reply subjects (`_INBOX_<name>.>`): none can read another's replies."""
    return f"_INBOX_{service.value if isinstance(service, Service) else service}"


def object_subject(ref: ObjectRef) -> str:
    return OBJECTS.subject(ref.kind.value, ref.namespace, ref.name)


def object_kind_filter(kind: ObjectKind) -> str:
    return f"{ROOT}.{OBJECTS.name}.{kind.value}.>"


def object_msg_id(ref: ObjectRef, resource_version: str, deleted: bool) -> str:
    """Same object state, same id: JetStream drops the republished copy inside the duplicate window."""
    return f"object:{ref.kind.value}:{ref.uid}:{resource_version}:{'deleted' if deleted else 'live'}"


def plan_msg_id(ref: ObjectRef, generation: int, verdict_digest: str, after_sequence: int) -> str:
    """One id per (verdict, predecessor): a verdict that returns (A -> B -> A) follows a different message and
    so is never mistaken for a duplicate of the first A. An application's plan, or an endpoint's (its plan hash as
    the verdict)."""
    return f"plan:{ref.uid}:{generation}:{verdict_digest}:{after_sequence}"


def scale_msg_id(ref: ObjectRef, generation: int, desired: int, decided_at_ns: int) -> str:
    return f"scale:{ref.uid}:{generation}:{desired}:{decided_at_ns}"


@dataclass(frozen=True)
class StreamDecl:
    name: str
    channel: Channel
    description: str
    max_msgs_per_subject: int = -1
    max_age_seconds: float = 0
    duplicate_window_seconds: float = 120

    @property
    def subjects(self) -> list[str]:
        return [self.channel.wildcard]


# Level-triggered consumers need only the newest state per object, so object and plan streams keep a few
# messages per subject: a backlog of changes to one object collapses to its latest states.
OBJECTS_STREAM = StreamDecl(
    "ARKS_OBJECTS",
    OBJECTS,
    "Object change events from the watcher.",
    max_msgs_per_subject=4,
    max_age_seconds=24 * 3600,
)
# The newest plan of each application stays until the planner purges it when the application is deleted: no
# age limit, so a plan the deployer has not applied yet cannot expire.
PLANS_STREAM = StreamDecl("ARKS_PLANS", PLANS, "The newest plan of each application.", max_msgs_per_subject=1)
# A separate stream from applications' plans: an endpoint may have an application's name.
ENDPOINT_PLANS_STREAM = StreamDecl(
    "ARKS_ENDPOINT_PLANS", ENDPOINT_PLANS, "The newest plan of each ArksEndpoint.", max_msgs_per_subject=1
)
SCALE_STREAM = StreamDecl(
    "ARKS_SCALE",
    SCALE,
    "Scale decisions from the slo-scaler.",
    max_msgs_per_subject=4,
    max_age_seconds=24 * 3600,
)
METRICS_STREAM = StreamDecl(
    "ARKS_METRICS",
    METRICS,
    "Unified runtime metrics, kept an hour for dashboards and replays.",
    max_msgs_per_subject=1000,
    max_age_seconds=3600,
    duplicate_window_seconds=60,
)
DEAD_LETTER_STREAM = StreamDecl(
    "ARKS_DEAD_LETTERS",
    DEAD_LETTERS,
    "Dead letters, kept a week for inspection and replay.",
    max_age_seconds=7 * 24 * 3600,
)
STREAMS = (OBJECTS_STREAM, PLANS_STREAM, ENDPOINT_PLANS_STREAM, SCALE_STREAM, METRICS_STREAM, DEAD_LETTER_STREAM)


OUTAGE_DELIVERIES = 10_000
"""Deliveries of a message whose handling keeps meeting an outage (`bus.consumer.is_outage`: the API server or NATS
away) before it is dead-lettered: about three and a half days at the 30 s cap. Each such message holds one of its
consumer's `max_ack_pending` slots meanwhile (a consumer whose slots all wait on an absent API server fetches
nothing new until it is back: the messages wait in the stream, none is lost)."""


@dataclass(frozen=True)
class ConsumerDecl:
    """A durable pull consumer owned by one service."""

    service: Service
    durable: str
    stream: StreamDecl
    filter_subjects: tuple[str, ...]
    description: str
    max_deliver: int = 8
    ack_wait_seconds: float = 30
    max_ack_pending: int = 256
    backoff_seconds: tuple[float, ...] = field(default=())
    in_order: bool = True
    """A subject's messages are handled one after another. False where the handler only learns "this changed"
    and reads the latest state itself: a batch's messages then run at once and the handler coalesces them."""
    partitioned: bool = True
    """One durable per partition of the stream (`<durable>-<p>`), each consumed by the one replica holding the
    partition's Lease, so an object's messages are handled by one replica at a time, in order. False: one durable
    shared by every replica (the slo-scaler, whose decisions are made by its elected leader alone)."""

    @property
    def dead_letter_subject(self) -> str:
        return DEAD_LETTERS.subject(self.service.value, self.durable)


PLANNER_OBJECTS = ConsumerDecl(
    Service.PLANNER,
    "planner-objects",
    OBJECTS_STREAM,
    (
        object_kind_filter(ObjectKind.APPLICATION),
        object_kind_filter(ObjectKind.MODEL),
        object_kind_filter(ObjectKind.ENDPOINT),
    ),
    "Applications and models, to check and plan applications; endpoints, to plan their routers.",
)
# The deployer's reconcile reads everything afresh: its events need no order and coalesce per application.
DEPLOYER_PLANS = ConsumerDecl(
    Service.DEPLOYER, "deployer-plans", PLANS_STREAM, (PLANS.wildcard,), "Plans to apply.", in_order=False
)
DEPLOYER_OBJECTS = ConsumerDecl(
    Service.DEPLOYER,
    "deployer-objects",
    OBJECTS_STREAM,
    (
        object_kind_filter(ObjectKind.APPLICATION),
        object_kind_filter(ObjectKind.LEADERWORKERSET),
        object_kind_filter(ObjectKind.ENDPOINT),
    ),
    "Applications and their LeaderWorkerSets, to keep status, replicas and deletion right; endpoints, whose "
    "status follows the applications behind them.",
    in_order=False,
)
DEPLOYER_ENDPOINT_PLANS = ConsumerDecl(
    Service.DEPLOYER,
    "deployer-endpoint-plans",
    ENDPOINT_PLANS_STREAM,
    (ENDPOINT_PLANS.wildcard,),
    "Endpoint plans to apply.",
    in_order=False,
)
DEPLOYER_SCALE = ConsumerDecl(
    Service.DEPLOYER, "deployer-scale", SCALE_STREAM, (SCALE.wildcard,), "Scale decisions to apply.", in_order=False
)
MODEL_LOADER_OBJECTS = ConsumerDecl(
    Service.MODEL_LOADER,
    "model-loader-objects",
    OBJECTS_STREAM,
    tuple(object_kind_filter(k) for k in (ObjectKind.MODEL, ObjectKind.JOB, ObjectKind.PVC, ObjectKind.APPLICATION)),
    "Models, their storage and download Jobs, and the applications that wait on them.",
    ack_wait_seconds=60,
)
SLO_SCALER_OBJECTS = ConsumerDecl(
    Service.SLO_SCALER,
    "slo-scaler-objects",
    OBJECTS_STREAM,
    (object_kind_filter(ObjectKind.APPLICATION), object_kind_filter(ObjectKind.LEADERWORKERSET)),
    "Applications with autoscaling and their groups.",
    partitioned=False,
)
CONSUMERS = (
    PLANNER_OBJECTS,
    DEPLOYER_PLANS,
    DEPLOYER_OBJECTS,
    DEPLOYER_SCALE,
    DEPLOYER_ENDPOINT_PLANS,
    MODEL_LOADER_OBJECTS,
    SLO_SCALER_OBJECTS,
)


def consumers_of(service: Service) -> tuple[ConsumerDecl, ...]:
    return tuple(c for c in CONSUMERS if c.service is service)


def channels_published_by(service: Service) -> tuple[Channel, ...]:
    return tuple(ch for ch in CHANNELS if service in ch.publishers)
