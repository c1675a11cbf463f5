"""The bus's shape: declared once by the bootstrap identity, verified by every service at start.

No service may create, change or delete a stream or a consumer (see `events.permissions`): a buggy or
compromised service could otherwise rewire the plans, seal the object stream or cut the dead letters. The
`arks-bus-bootstrap` program, run as the `arks-bootstrap` NATS user before the services (a Helm hook Job of
the watcher chart, `make run`, the test suites), declares every stream and durable consumer idempotently;
each service then waits until the streams and its own consumers are exactly as its version declares them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from arks_common.bus.connection import connect
from arks_common.bus.jetstream import (
    MOVED_TO,
    NOT_PARTITIONED,
    consumer_config,
    ensure_consumer,
    ensure_stream,
    mapping_of,
    stream_config,
)
from arks_common.cli import package_version
from arks_common.events.contract import CONSUMERS, STREAMS, ConsumerDecl, StreamDecl
from arks_common.events.partitions import DEFAULT_PARTITIONS, instances, partitions_of_transform
from arks_common.settings import CommonSettings, load_settings
from arks_common.telemetry.logging import get_logger, setup_logging

log = get_logger(__name__)

BOOTSTRAP = "bootstrap"
"""The program's name, its NATS user (`arks-bootstrap`) and its inbox (`_INBOX_bootstrap`)."""


async def declare_all(js: JetStreamContext, replicas: int, partitions: int = DEFAULT_PARTITIONS) -> None:
    for stream in STREAMS:
        await ensure_stream(js, stream, replicas, partitions)
    for consumer in CONSUMERS:
        for instance in instances(consumer, partitions):
            await ensure_consumer(js, instance)


async def differences(
    js: JetStreamContext, consumers: Sequence[ConsumerDecl], partitions: int = DEFAULT_PARTITIONS
) -> list[str]:
    """How the bus differs from what this version declares (every stream, and `consumers`, partitioned into
    `partitions`); empty when it matches. Only what the services rely on is compared (replicas are the
    installation's choice)."""
    found: list[str] = []
    for stream in STREAMS:
        try:
            info = await js.stream_info(stream.name)
        except NotFoundError:
            found.append(f"stream {stream.name} is not declared")
            continue
        found += _stream_differences(stream, info.config, partitions)
    for consumer in consumers:
        for instance in instances(consumer, partitions):
            try:
                cinfo = await js.consumer_info(consumer.stream.name, instance.durable)
            except NotFoundError:
                found.append(f"consumer {consumer.stream.name}/{instance.durable} is not declared")
                continue
            want = consumer_config(instance)
            for field in ("filter_subjects", "ack_policy", "ack_wait", "max_deliver", "max_ack_pending"):
                have, expected = getattr(cinfo.config, field), getattr(want, field)
                if field == "filter_subjects":
                    have, expected = sorted(have or []), sorted(expected or [])
                if have != expected:
                    found.append(f"consumer {instance.durable}: {field} is {have!r}, this version needs {expected!r}")
    return found


def _stream_differences(decl: StreamDecl, have: object, partitions: int) -> list[str]:
    want = stream_config(decl, partitions=partitions)
    out = []
    have_transform = getattr(have, "subject_transform", None)
    if have_transform != want.subject_transform:
        found = partitions_of_transform(decl, getattr(have_transform, "dest", None))
        out.append(
            f"stream {decl.name}: partitioned into {found or 'no'} partitions, this service is set for "
            f"{partitions} (ARKS_BUS_PARTITIONS must be the same for arks-bus-bootstrap and every service)"
            if want.subject_transform is not None
            else f"stream {decl.name}: has a subject transform, this version declares none"
        )
    else:
        moved_to = (getattr(have, "metadata", None) or {}).get(MOVED_TO)
        wanted = mapping_of(want.subject_transform) or NOT_PARTITIONED
        if moved_to is not None and moved_to != wanted:
            out.append(
                f"stream {decl.name}: its messages are not yet moved to its partitions ({moved_to}, not "
                f"{wanted}); arks-bus-bootstrap moves them"
            )
    for field in ("subjects", "storage", "max_msgs_per_subject", "max_age", "duplicate_window"):
        got, expected = getattr(have, field, None), getattr(want, field)
        if field == "subjects":
            got, expected = sorted(got or []), sorted(expected or [])
        elif field in ("max_age", "duplicate_window"):
            got, expected = float(got or 0), float(expected or 0)
        if got != expected:
            out.append(f"stream {decl.name}: {field} is {got!r}, this version needs {expected!r}")
    return out


async def wait_until_declared(
    js: JetStreamContext,
    consumers: Sequence[ConsumerDecl],
    stop: asyncio.Event,
    partitions: int = DEFAULT_PARTITIONS,
) -> bool:
    """Waits (not ready, logging why) until the bus is declared as expected; False if told to stop first.
    A missing bootstrap is an installation step to take, not a reason to crash-loop."""
    delay = 0.25
    while not stop.is_set():
        try:
            problems = await differences(js, consumers, partitions)
        except (nats.errors.Error, TimeoutError) as exc:
            problems = [f"the bus could not be asked: {type(exc).__name__}: {exc}"]
        if not problems:
            return True
        log.warning("waiting for the bus to be declared (run arks-bus-bootstrap)", problems=problems[:5], delay=delay)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            delay = min(delay * 2, 10.0)
    return False


async def _bootstrap(settings: CommonSettings) -> int:
    closed = asyncio.Event()
    # A one-shot Job: SIGTERM keeps its default action (end the process), so nothing sets this.
    nc = await connect(settings, BOOTSTRAP, closed, stop=asyncio.Event())
    if nc is None:
        return 1
    try:
        js = nc.jetstream()
        await declare_all(js, settings.replicas_of_streams, settings.bus_partitions)
        problems = await differences(js, CONSUMERS, settings.bus_partitions)
    finally:
        await nc.drain()
    for problem in problems:
        log.error("declared, but the bus still differs", problem=problem)
    if not problems:
        log.info("bus declared", streams=len(STREAMS), consumers=len(CONSUMERS), partitions=settings.bus_partitions)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="arks-bus-bootstrap",
        description="Declare every Arks JetStream stream and durable consumer (idempotent), then exit. "
        "Connects like a service (ARKS_NATS_URL, ARKS_NATS_USER, ARKS_NATS_PASSWORD or ARKS_NATS_CREDS_FILE, "
        "ARKS_REPLICAS_OF_STREAMS, ARKS_BUS_PARTITIONS), as the arks-bootstrap user. A stream partitioned otherwise is "
        "repartitioned: each subject's newest message is published again in its new partition.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version('arks-common')}")
    parser.parse_args(argv)
    settings = load_settings(BOOTSTRAP, CommonSettings)
    setup_logging(BOOTSTRAP, settings.log_level, settings.log_format)
    try:
        code = asyncio.run(_bootstrap(settings))
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        log.error("bus bootstrap failed", error=f"{type(exc).__name__}: {exc}")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
