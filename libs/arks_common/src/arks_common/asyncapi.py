"""Builds the AsyncAPI 3.0 document of the event contract from its declarations (no I/O)."""

from __future__ import annotations

from typing import Any

import msgspec

from arks_common.events.contract import CHANNELS, CONSUMERS, ROOT, Channel, Service, channels_published_by
from arks_common.events.payloads import SCHEMA_VERSION, Envelope, payload_types

_PARAM_DOCS = {
    "kind": "The object kind (application, model, leaderworkerset, service, pod, job, pvc).",
    "namespace": "The namespace, encoded as a subject token (see docs/events.md).",
    "name": "The object's name, encoded as a subject token ('.' becomes '_').",
    "service": "The service whose consumer gave up.",
    "consumer": "The durable consumer that gave up.",
}
_REF = "#/components/schemas/{name}"


def _message_name(channel: Channel) -> str:
    return channel.payload.__name__


def build() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components((Envelope, *payload_types()), ref_template=_REF)
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for ch in CHANNELS:
        name = _message_name(ch)
        channels[ch.name] = {
            "address": ch.address,
            "description": ch.description,
            "parameters": {p: {"description": _PARAM_DOCS[p]} for p in ch.params},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        schemas[f"{name}Envelope"] = {
            "allOf": [
                {"$ref": _REF.format(name="Envelope")},
                {"type": "object", "properties": {"data": {"$ref": _REF.format(name=name)}}},
            ]
        }
        messages[name] = {
            "name": name,
            "title": name,
            "contentType": "application/json",
            "summary": (ch.payload.__doc__ or "").strip().splitlines()[0],
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {"type": "string", "description": "Deduplication key (= envelope id)."},
                    "traceparent": {"type": "string", "description": "W3C trace context."},
                },
            },
            "payload": {"$ref": _REF.format(name=f"{name}Envelope")},
        }
    operations: dict[str, Any] = {}
    for service in Service:
        for ch in channels_published_by(service):
            operations[f"{service.value}-publishes-{ch.name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{ch.name}"},
                "summary": f"The {service.value} publishes on {ch.address}.",
                "messages": [{"$ref": f"#/channels/{ch.name}/messages/{_message_name(ch)}"}],
            }
    for consumer in CONSUMERS:
        ch = consumer.stream.channel
        operations[consumer.durable] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{ch.name}"},
            "summary": (
                f"The {consumer.service.value} consumes {', '.join(consumer.filter_subjects)} from stream "
                f"{consumer.stream.name} (durable {consumer.durable}, max {consumer.max_deliver} deliveries)."
            ),
            "description": consumer.description,
            "messages": [{"$ref": f"#/channels/{ch.name}/messages/{_message_name(ch)}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Arks events",
            "version": str(SCHEMA_VERSION),
            "description": (
                f"Every Arks event, published on NATS JetStream under `{ROOT}.>`. Generated from "
                "libs/arks_common/src/arks_common/events/ by `make gen`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:4222", "protocol": "nats", "description": "make run"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
