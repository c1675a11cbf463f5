"""The event contract: subject tokens, envelopes, declarations and the AsyncAPI document agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arks_common import asyncapi
from arks_common.bus.consumer import PermanentError, require_named
from arks_common.events.contract import (
    CHANNELS,
    CONSUMERS,
    OBJECTS,
    PLANS,
    STREAMS,
    Service,
    object_msg_id,
    object_subject,
)
from arks_common.events.payloads import (
    Envelope,
    ObjectChanged,
    ObjectKind,
    ObjectRef,
    PlanReady,
    PrecheckResult,
    UnsupportedSchema,
    decode,
    encode,
    payload_types,
)
from arks_common.events.tokens import decode_token, encode_token


@given(st.text())
def test_any_string_round_trips_through_a_subject_token(value: str) -> None:
    token = encode_token(value)
    assert token
    assert not {".", "*", ">", " ", "\t", "\n"} & set(token)
    assert decode_token(token) == value


@pytest.mark.parametrize(
    ("name", "token"),
    [("app-qwen", "app-qwen"), ("qwen2.5-7b", "qwen2_5-7b"), ("a_b", "a~5Fb"), ("", "~")],
    ids=["plain names stay", "dots become underscores", "underscores are escaped", "empty is a token"],
)
def test_tokens_are_readable_for_kubernetes_names(name: str, token: str) -> None:
    assert encode_token(name) == token


def test_a_token_encode_never_emits_is_refused() -> None:
    with pytest.raises(ValueError, match="never emits"):
        decode_token("a.b")


def test_object_subject_round_trips_dotted_names() -> None:
    ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace="team-a", name="qwen2.5.vllm", uid="u1")
    subject = object_subject(ref)
    assert subject == "arks.object.application.team-a.qwen2_5_vllm"
    assert OBJECTS.parse(subject) == {"kind": "application", "namespace": "team-a", "name": "qwen2.5.vllm"}
    with pytest.raises(ValueError, match="not on channel"):
        PLANS.parse(subject)


def test_same_state_gives_same_message_id() -> None:
    ref = ObjectRef(kind=ObjectKind.MODEL, namespace="d", name="m", uid="u")
    assert object_msg_id(ref, "7", False) == object_msg_id(ref, "7", False)
    assert object_msg_id(ref, "7", False) != object_msg_id(ref, "7", True)
    assert object_msg_id(ref, "7", False) != object_msg_id(ref, "8", False)


def _envelope(data: Any) -> Envelope:
    return Envelope(id="id-1", source="test", time=datetime(2026, 1, 1, tzinfo=UTC), data=data)


def test_envelope_round_trips_and_carries_schema_version() -> None:
    ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace="d", name="a", uid="u")
    env = _envelope(
        PlanReady(
            ref=ref,
            generation=2,
            resource_version="9",
            precheck=PrecheckResult(passed=True, reason="PrecheckPass", message="ok"),
        )
    )
    raw = encode(env)
    assert b'"schema_version":1' in raw
    assert b'"type":"plan.ready"' in raw
    assert decode(raw) == env


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"not json", msgspec.DecodeError),
        (b'{"schema_version": 2, "id": "x"}', UnsupportedSchema),
        (b'{"schema_version": 0, "id": "x"}', UnsupportedSchema),
        (
            b'{"id": "x", "source": "s", "time": "2026-01-01T00:00:00Z", "data": {"type": "nope"}}',
            msgspec.ValidationError,
        ),
    ],
    ids=["garbage", "newer schema", "schema zero", "unknown payload type"],
)
def test_bad_messages_raise_clear_errors(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(raw)


def test_every_consumer_filter_lies_inside_its_stream() -> None:
    for consumer in CONSUMERS:
        prefix = consumer.stream.channel.wildcard.removesuffix(">")
        assert all(f.startswith(prefix) for f in consumer.filter_subjects), consumer.durable
    assert len({c.durable for c in CONSUMERS}) == len(CONSUMERS)
    assert len({s.name for s in STREAMS}) == len(STREAMS)
    assert {s.channel.name for s in STREAMS} == {c.name for c in CHANNELS}


def test_every_service_but_the_watcher_consumes_something() -> None:
    consuming = {c.service for c in CONSUMERS}
    assert consuming == set(Service) - {Service.WATCHER}


DOC = asyncapi.build()


def test_asyncapi_lists_every_channel_and_operation() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert {ch["address"] for ch in DOC["channels"].values()} == {c.address for c in CHANNELS}
    receives = {k for k, op in DOC["operations"].items() if op["action"] == "receive"}
    assert receives == {c.durable for c in CONSUMERS}
    for op in DOC["operations"].values():
        channel = op["channel"]["$ref"].removeprefix("#/channels/")
        assert channel in DOC["channels"]


def _validator(message: str) -> jsonschema.Draft202012Validator:
    """The message's payload schema, with the document's components beside it so `#/components/...` resolves."""
    schema = {**DOC["components"]["messages"][message]["payload"], "components": DOC["components"]}
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    ("message", "data"),
    [
        (
            "ObjectChanged",
            ObjectChanged(ref=ObjectRef(kind=ObjectKind.POD, namespace="d", name="p"), resource_version="1"),
        ),
        (
            "PlanReady",
            PlanReady(
                ref=ObjectRef(kind=ObjectKind.APPLICATION, namespace="d", name="a"),
                generation=1,
                resource_version="3",
                precheck=PrecheckResult(passed=False, reason="R", message="m"),
            ),
        ),
    ],
)
def test_real_messages_validate_against_the_asyncapi_schemas(message: str, data: Any) -> None:
    instance = msgspec.json.decode(encode(_envelope(data)))
    _validator(message).validate(instance)
    broken = {**instance, "data": {**instance["data"], "ref": "not an object"}}
    with pytest.raises(jsonschema.ValidationError):
        _validator(message).validate(broken)


@pytest.mark.parametrize(("namespace", "name"), [("", "a"), ("ns", ""), ("", "")])
def test_an_event_that_names_no_object_is_a_permanent_error(namespace: str, name: str) -> None:
    with pytest.raises(PermanentError, match="names no object"):
        require_named(namespace, name, "arks.object.application.~.~")
    require_named("ns", "a", "arks.object.application.ns.a")


DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnsupportedSchema)
"""What decoding a message may raise: the consumer dead-letters each; anything else would be a bug in `decode`."""

_PLAN_BYTES = encode(
    _envelope(
        PlanReady(
            ref=ObjectRef(kind=ObjectKind.APPLICATION, namespace="d", name="a", uid="u"),
            generation=2,
            resource_version="9",
            precheck=PrecheckResult(passed=True, reason="PrecheckPass", message="ok"),
        )
    )
)


@st.composite
def _mutated_messages(draw: st.DrawFn) -> bytes:
    """A real message with bytes flipped, cut, spliced, or a field replaced by any JSON, or deeply nested."""
    raw = bytearray(_PLAN_BYTES)
    how = draw(st.sampled_from(["flip", "cut", "splice", "field", "nest", "bytes"]))
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    elif how == "cut":
        del raw[draw(st.integers(0, len(raw))) :]
    elif how == "splice":
        at = draw(st.integers(0, len(raw)))
        raw[at:at] = draw(st.binary(max_size=64))
    elif how == "nest":
        depth = draw(st.integers(1, 100_000))
        return b'{"schema_version":1,"id":"x","source":"s","time":"2026-01-01T00:00:00Z","data":' + (
            b"[" * depth + b"]" * depth + b"}"
        )
    elif how == "field":
        doc = msgspec.json.decode(bytes(raw))
        leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
        value = draw(st.recursive(leaves, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
        target = doc if draw(st.booleans()) else doc["data"]
        target[draw(st.sampled_from(sorted(target)) | st.text(max_size=10))] = value
        return msgspec.json.encode(doc)
    else:
        return draw(st.binary(max_size=512))
    return bytes(raw)


@given(_mutated_messages())
def test_decoding_any_bytes_yields_an_envelope_or_a_decode_error(raw: bytes) -> None:
    try:
        envelope = decode(raw)
    except DECODE_ERRORS:
        return
    assert isinstance(envelope, Envelope)
    assert isinstance(envelope.data, payload_types())
