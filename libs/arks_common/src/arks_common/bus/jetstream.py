"""Idempotent stream and consumer declarations, and publishing envelopes with dedup ids and trace headers."""

from __future__ import annotations

from datetime import UTC, datetime

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig, SubjectTransform
from nats.js.errors import APIError, NotFoundError
from opentelemetry import trace

from arks_common.events.contract import OUTAGE_DELIVERIES, Channel, StreamDecl
from arks_common.events.partitions import DEFAULT_PARTITIONS, ConsumerInstance, subject_transform
from arks_common.events.payloads import Envelope, Payload, encode
from arks_common.telemetry.logging import get_logger
from arks_common.telemetry.metrics import PUBLISHED
from arks_common.telemetry.tracing import inject_headers

MSG_ID_HEADER = "Nats-Msg-Id"
MOVED_TO = "arks.ai/messages-mapped"
"""Stream metadata: the subject mapping its stored messages were last moved to (`ensure_stream`)."""
NOT_PARTITIONED = "none"
_HEADER_LINE = b"NATS/1.0\r\n"
"""How a message's headers begin on the wire; then `Key: Value\r\n` each and a blank line."""
EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
WRONG_LAST_SEQUENCE = 10071
"""JetStream's error code when `Nats-Expected-Last-Subject-Sequence` does not match (nats-server 2.10+)."""
_tracer = trace.get_tracer("arks.bus")
log = get_logger(__name__)
# Headers a moved message must not carry again: its id would be a duplicate, its expectation long stale.
_NOT_MOVED = ("Nats-Msg-Id", "Nats-Expected-Last-Subject-Sequence", "Nats-Expected-Last-Sequence")


def stream_config(decl: StreamDecl, replicas: int = 1, partitions: int = DEFAULT_PARTITIONS) -> StreamConfig:
    transform = subject_transform(decl.channel, partitions)
    return StreamConfig(
        name=decl.name,
        description=decl.description,
        subjects=decl.subjects,
        storage=StorageType.FILE,
        max_msgs_per_subject=decl.max_msgs_per_subject,
        max_age=decl.max_age_seconds or None,
        duplicate_window=decl.duplicate_window_seconds,
        num_replicas=replicas,
        subject_transform=None if transform is None else SubjectTransform(src=transform[0], dest=transform[1]),
    )


def consumer_config(instance: ConsumerInstance) -> ConsumerConfig:
    decl = instance.decl
    return ConsumerConfig(
        durable_name=instance.durable,
        description=decl.description,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=decl.ack_wait_seconds,
        # One more delivery than the longest budget (an outage's), so the consumer loop itself
        # dead-letters the last try; a failure of another kind is dead-lettered at the declaration's max_deliver.
        max_deliver=max(decl.max_deliver, OUTAGE_DELIVERIES) + 1,
        max_ack_pending=decl.max_ack_pending,
        filter_subjects=list(instance.filter_subjects),
    )


async def ensure_stream(
    js: JetStreamContext, decl: StreamDecl, replicas: int = 1, partitions: int = DEFAULT_PARTITIONS
) -> None:
    """Creates the stream, or brings an existing one to this declaration. Safe to run from every replica.

    A stream partitioned otherwise (or not at all, as before partitions) is repartitioned: its stored messages
    would sit where no partition's consumer looks, so the newest of each subject is published again on its
    original subject (the new mapping places it) and the old copy purged. The stream's metadata says which
    mapping its messages were last moved to (`MOVED_TO`), written only once the move is done: a move cut short
    (a timeout, a refusal, a restarted Job) is done again by the next run, though the stream already maps anew."""
    config = stream_config(decl, replicas, partitions)
    want = mapping_of(config.subject_transform) or NOT_PARTITIONED
    try:
        info = await js.stream_info(decl.name)
    except NotFoundError:
        config.metadata = {MOVED_TO: want}
        await js.add_stream(config)
        return
    # a stream from before the marker: its messages are where its mapping put them (an earlier move was done
    # when the mapping changed)
    had = mapping_of(info.config.subject_transform) or NOT_PARTITIONED
    moved_to = (info.config.metadata or {}).get(MOVED_TO) or had
    config.metadata = {MOVED_TO: moved_to}
    await js.update_stream(config)
    if moved_to == want:
        return
    if (info.state.messages or 0) > 0:
        moved = await _repartition(js, decl)
        log.warning(
            "stream repartitioned; each subject's newest message published again in its new partition",
            stream=decl.name,
            mapping=want,
            was=moved_to,
            subjects=moved,
        )
    config.metadata = {MOVED_TO: want}
    await js.update_stream(config)


def mapping_of(transform: SubjectTransform | None) -> str | None:
    return None if transform is None else f"{transform.src} -> {transform.dest}"


async def _repartition(js: JetStreamContext, decl: StreamDecl) -> int:
    info = await js.stream_info(decl.name, subjects_filter=decl.channel.wildcard)
    moved = 0
    for stored in sorted((info.state.subjects or {}) if info.state else {}):
        try:
            published = decl.channel.published(stored)
        except ValueError:
            continue  # not one of ours: left alone
        msg = await js.get_last_msg(decl.name, stored)
        headers = {k: v for k, v in (msg.headers or {}).items() if k not in _NOT_MOVED}
        ack = await js.publish(published, msg.data or b"", headers=headers or None)
        # keeps the copy just published when the new mapping gave it the same stored subject
        await js.purge_stream(decl.name, subject=stored, seq=ack.seq)
        moved += 1
    return moved


async def ensure_consumer(js: JetStreamContext, instance: ConsumerInstance) -> None:
    """Creates or updates the durable consumer (the server's create call is create-or-update since 2.10)."""
    await js.add_consumer(instance.decl.stream.name, consumer_config(instance))


class WrongLastSequence(Exception):
    """Someone published on the subject since it was read: read it again and decide again."""


async def publish(
    js: JetStreamContext,
    channel: Channel,
    subject: str,
    msg_id: str,
    source: str,
    data: Payload,
    after_sequence: int | None = None,
) -> bool:
    """Publishes one event; returns False when JetStream dropped it as a duplicate of `msg_id`.

    With `after_sequence`, the stream stores it only if the subject's newest message still has that sequence
    (0: the subject is empty), else raises WrongLastSequence: a compare-and-set on the subject."""
    if not isinstance(data, channel.payload):
        raise TypeError(f"channel {channel.name} carries {channel.payload.__name__}, not {type(data).__name__}")
    envelope = Envelope(id=msg_id, source=source, time=datetime.now(UTC), data=data)
    with _tracer.start_as_current_span(
        f"publish {channel.address}",
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.destination": subject},
    ):
        headers = inject_headers({MSG_ID_HEADER: msg_id})
        if after_sequence is not None:
            headers[EXPECTED_LAST_SUBJECT_SEQUENCE] = str(after_sequence)
        data_bytes = encode(envelope)
        _check_size(js, data_bytes, headers)
        try:
            ack = await js.publish(subject, data_bytes, headers=headers)
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise WrongLastSequence(str(exc)) from exc
            raise
    PUBLISHED.labels(channel.name, str(bool(ack.duplicate)).lower()).inc()
    return not ack.duplicate


def _check_size(js: JetStreamContext, data: bytes, headers: dict[str, str]) -> None:
    """Raises MaxPayloadError when the message will not fit: nats-server counts the headers with the payload
    (nats.py checks the payload alone, and the server's refusal closes the connection for good)."""
    nc = getattr(js, "_nc", None)
    limit = getattr(nc, "max_payload", 0) or 0
    header_bytes = len(_HEADER_LINE) + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items()) + 2
    if limit and len(data) + header_bytes > limit:
        raise nats.errors.MaxPayloadError(f"{len(data)} bytes and {header_bytes} of headers exceed {limit}")


async def last_message(js: JetStreamContext, stream: str, subject: str) -> tuple[int, bytes | None]:
    """The sequence and data of the newest message on `subject` in `stream`; (0, None) when there is none.
    `subject` is as stored: `Channel.stored(...)` (a partition wildcard) for a partitioned stream."""
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return 0, None
    return int(msg.seq or 0), msg.data


async def purge_subject(js: JetStreamContext, stream: str, subject: str, before: int) -> None:
    """Removes the subject's messages with a sequence below `before` (a later one survives the purge); `subject`
    as stored, like `last_message`'s."""
    await js.purge_stream(stream, subject=subject, seq=before)
