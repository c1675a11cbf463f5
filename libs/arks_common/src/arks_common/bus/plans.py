"""The newest plan of an application, as the ARKS_PLANS stream holds it (one message per subject).

The planner reads it before publishing (so an older verdict never replaces a newer one) and the deployer reads
it for the objects to apply; the verdict itself is also durable in the application's `Precheck` condition.
"""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext

from arks_common.bus.jetstream import last_message
from arks_common.events.contract import ENDPOINT_PLANS, ENDPOINT_PLANS_STREAM, PLANS, PLANS_STREAM, StreamDecl
from arks_common.events.payloads import EndpointPlanReady, PlanReady, decode
from arks_common.telemetry.logging import get_logger

log = get_logger(__name__)
PUBLISH_ATTEMPTS = 5
"""Compare-and-set rounds of a plan's publish (an application's or an endpoint's) before the event is given back
for a later retry (another replica keeps winning)."""


async def newest_plan(js: JetStreamContext, namespace: str, name: str) -> tuple[int, PlanReady | None]:
    """The subject's sequence (0 when empty) and its plan; an unreadable message counts as no plan."""
    subject = PLANS.stored(namespace, name)
    sequence, data = await last_message(js, PLANS_STREAM.name, subject)
    if data is None:
        return sequence, None
    try:
        payload = decode(data).data
    except (msgspec.MsgspecError, ValueError, RecursionError) as exc:
        log.warning("unreadable plan in stream", subject=subject, error=str(exc)[:300])
        return sequence, None
    return sequence, payload if isinstance(payload, PlanReady) else None


async def stored_keys(js: JetStreamContext, stream: StreamDecl) -> tuple[int, set[tuple[str, str]]]:
    """The stream's last sequence and the (namespace, name) of every object that has a plan stored on it (the
    applications' plans, or the ArksEndpoints' on their own stream)."""
    info = await js.stream_info(stream.name, subjects_filter=stream.channel.wildcard)
    keys = set()
    for subject in (info.state.subjects or {}) if info.state else {}:
        try:
            params = stream.channel.parse(subject)
        except ValueError:
            continue
        keys.add((params["namespace"], params["name"]))
    return int(info.state.last_seq or 0) if info.state else 0, keys


async def newest_endpoint_plan(js: JetStreamContext, namespace: str, name: str) -> tuple[int, EndpointPlanReady | None]:
    """The newest plan of an ArksEndpoint, as `newest_plan` reads an application's."""
    subject = ENDPOINT_PLANS.stored(namespace, name)
    sequence, data = await last_message(js, ENDPOINT_PLANS_STREAM.name, subject)
    if data is None:
        return sequence, None
    try:
        payload = decode(data).data
    except (msgspec.MsgspecError, ValueError, RecursionError) as exc:
        log.warning("unreadable endpoint plan in stream", subject=subject, error=str(exc)[:300])
        return sequence, None
    return sequence, payload if isinstance(payload, EndpointPlanReady) else None
