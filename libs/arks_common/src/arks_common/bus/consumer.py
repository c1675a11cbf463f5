"""The durable pull-consumer loop: decode, handle, then ack, nak with delay, or dead-letter and terminate.

Failures come in three kinds (kopf's and controller-runtime's split): an outage (the API server or NATS away, a
timeout, a 429 or 5xx, and a TemporaryError made of one: `is_outage`) is retried with backoff capped at 30 s for
as long as `OUTAGE_DELIVERIES` allows (days: an outage of any sane length loses nothing, and nothing else would
bring the message back once dropped); any other TemporaryError (a slow look again: a quota, a name held by
another object) or unexpected exception (a bug, say) until the consumer's `max_deliver` budget is spent, so no
such message holds one of the consumer's unacknowledged slots for long; a PermanentError or an undecodable
message is dead-lettered at once. Dead letters go to
`arks.dead.<service>.<consumer>` with the error text, so nothing is lost; a handler that wants to look again
after a while raises `Later`. Messages for one subject (one object) are handled in order; different subjects run
concurrently (every message at once where the declaration says order does not matter), and the loop fetches
again as soon as a handling slot is free, so one slow message never holds back later messages of other subjects.
A message is kept alive with in-progress acks from its fetch until it is settled, also while it waits for its
subject's previous message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import trace

from arks_common.bus.jetstream import publish
from arks_common.bus.pipeline import OrderedPipeline
from arks_common.events.contract import DEAD_LETTERS, OUTAGE_DELIVERIES, ConsumerDecl
from arks_common.events.partitions import ConsumerInstance, is_partitioned
from arks_common.events.payloads import DEAD_LETTER_PAYLOAD_BYTES, DeadLetter, Envelope, decode
from arks_common.stopping import sleep_unless
from arks_common.telemetry.liveness import LIVENESS
from arks_common.telemetry.logging import get_logger
from arks_common.telemetry.metrics import CONSUMER_PENDING, HANDLING_SECONDS, MESSAGES, REDELIVERIES
from arks_common.telemetry.tracing import extract_context

log = get_logger(__name__)
ERROR_CHARS = 4000
"""Error texts are cut to this (a handler's error may quote a whole object)."""
_tracer = trace.get_tracer("arks.bus")


class TemporaryError(Exception):
    """Try again later (the API server is away, a conflict, a dependency not ready yet). `outage`: it is the API
    server or NATS being away (5xx, 429, no connection), which the consumer waits out for days, not minutes."""

    def __init__(self, message: str, delay_seconds: float | None = None, outage: bool = False) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds
        self.outage = outage


def is_outage(exc: BaseException) -> bool:
    """Whether a failure is a dependency being away (retried for as long as `OUTAGE_DELIVERIES` allows)."""
    if isinstance(exc, nats.errors.MaxPayloadError):
        return False
    if isinstance(exc, TimeoutError | ConnectionError | nats.errors.Error):
        return True
    return getattr(exc, "outage", False) is True  # a TemporaryError made of one, a KubeError (`KubeError.outage`)


class Later(Exception):
    """Not a failure: look at this message again after `delay_seconds` (a decision that waits for time to pass,
    not for a dependency). Nak'd with that delay, so the retry travels with the message — to whichever replica
    owns it then, also after a restart; logged at debug and counted as `later`. At the last delivery the
    consumer allows, it is retried or dead-lettered like a TemporaryError, never dropped."""

    def __init__(self, message: str, delay_seconds: float) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


class PermanentError(Exception):
    """Retrying cannot help (a malformed payload, a contract violation): dead-letter the message."""


def require_named(namespace: str, name: str, subject: str) -> None:
    """An event about an object must name it; one that does not is a contract violation, not a retry."""
    if not namespace or not name:
        raise PermanentError(f"event on {subject} names no object (namespace={namespace!r}, name={name!r})")


@dataclass(frozen=True)
class Delivery:
    """What a handler may know about the message besides its payload."""

    subject: str
    """As published (a partitioned stream stores it with a partition token, left out here)."""
    attempt: int
    stream_sequence: int
    headers: Mapping[str, str]


Handler = Callable[[Envelope, Delivery], Awaitable[None]]


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff: base, 2·base, 4·base, ... capped."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


class DurableConsumer:
    """Runs one ConsumerDecl's durable consumer (for a partitioned declaration, the one of `partition`) until
    `stop` is set; in-flight messages finish first."""

    def __init__(
        self,
        js: JetStreamContext,
        decl: ConsumerDecl,
        handler: Handler,
        *,
        batch: int = 32,
        fetch_timeout: float = 1.0,
        retry_base_seconds: float = 0.5,
        retry_cap_seconds: float = 30.0,
        stall_seconds: float = 300.0,
        partition: int | None = None,
    ) -> None:
        if is_partitioned(decl) != (partition is not None):
            raise ValueError(f"consumer {decl.durable}: a partition is needed exactly when it is partitioned")
        self._js = js
        self._decl = decl
        self._partition = partition
        self._durable = ConsumerInstance(decl, partition).durable
        self._handler = handler
        self._batch = batch
        self._fetch_timeout = fetch_timeout
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_cap_seconds
        self._stall = stall_seconds
        self._log = log.bind(consumer=self._durable)
        self._handling: dict[int, float] = {}
        """When each message being handled began (monotonic clock), by the token it got when fetched."""
        self._tokens = itertools.count()
        self._held: dict[int, asyncio.Task[None]] = {}
        """The in-progress heartbeat of each message fetched and not yet settled."""

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self._js.pull_subscribe_bind(durable=self._durable, stream=self._decl.stream.name)
        loop = f"consumer {self._durable}"
        _initialize_metrics(self._decl.durable)
        # at most `batch` messages held at once (fetched, waiting for their subject's previous one, or handled)
        handling = OrderedPipeline(window=self._batch)
        try:
            while not stop.is_set():
                # one cycle (a free slot, a fetch) must end within the fetch wait plus the stall limit, and no
                # message may be handled for longer than the stall limit: a stuck handler stops the beats
                if not self._stuck():
                    LIVENESS.beat(loop, self._fetch_timeout + self._stall)
                free = await handling.room()
                if stop.is_set():
                    break  # told to stop while every slot was busy: take nothing more
                try:
                    msgs = await sub.fetch(free, timeout=self._fetch_timeout)
                except TimeoutError:  # nothing to fetch (nats.errors.TimeoutError is one too): nothing pending
                    CONSUMER_PENDING.labels(self._decl.durable).set(0)
                    continue
                except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
                    break
                except Exception as exc:  # a restarting server must not end the consumer: try again
                    self._log.warning("fetch failed; retrying", error=repr(exc))
                    await sleep_unless(stop, 1.0)
                    continue
                if msgs:
                    CONSUMER_PENDING.labels(self._decl.durable).set(msgs[-1].metadata.num_pending or 0)
                for msg in msgs:
                    # kept alive from now: waiting behind its subject's previous message, it must not be redelivered
                    token = next(self._tokens)
                    self._held[token] = asyncio.create_task(self._keep_alive(msg))
                    # in order: one subject's messages one after another, across fetches; otherwise each on its own
                    key = msg.subject if self._decl.in_order else token
                    await handling.submit(key, functools.partial(self._handle_guarded, msg, token))
            await handling.drain()  # in-flight messages finish first
        finally:
            await handling.cancel()  # only when cancelled: after a drain nothing is left
            for heartbeat in self._held.values():
                heartbeat.cancel()  # messages cut off while waiting come back after ack_wait
            self._held.clear()
            LIVENESS.forget(loop)
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    def _stuck(self) -> bool:
        return any(time.monotonic() - began > self._stall for began in self._handling.values())

    async def _handle_guarded(self, msg: Msg, token: int) -> None:
        self._handling[token] = time.monotonic()
        try:
            await self._handle_one(msg)
        except Exception as exc:  # never stop the loop or a sibling: this one is redelivered after ack_wait
            self._log.error(
                "message handling broke; left for redelivery", subject=msg.subject, error=repr(exc)[:ERROR_CHARS]
            )
        finally:
            del self._handling[token]
            heartbeat = self._held.pop(token, None)
            if heartbeat is not None:
                heartbeat.cancel()

    async def _handle_one(self, msg: Msg) -> None:
        meta = msg.metadata
        attempt = meta.num_delivered
        if attempt > 1:
            REDELIVERIES.labels(self._decl.durable).inc()
        headers = dict(msg.headers or {})
        delivery = Delivery(self._published(msg.subject), attempt, meta.sequence.stream, headers)
        started, started_at = time.perf_counter(), time.time()
        with _tracer.start_as_current_span(
            f"{self._decl.durable} process",
            context=extract_context(headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.destination": delivery.subject, "messaging.attempt": attempt},
        ):
            try:
                envelope = decode(msg.data)
            except Exception as exc:  # any decoding failure (msgspec's, a newer schema, nesting too deep, ...)
                await self._dead_letter(msg, delivery, f"undecodable message: {type(exc).__name__}: {exc}")
                return
            try:
                await self._handler(envelope, delivery)
            except PermanentError as exc:
                await self._dead_letter(msg, delivery, f"permanent error: {exc}")
            except Later as exc:
                if delivery.attempt >= self._decl.max_deliver:
                    await self._retry_or_give_up(msg, delivery, exc)
                    return
                self._log.debug("handled; again later", subject=delivery.subject, delay=exc.delay_seconds, why=str(exc))
                await self._settle(msg.nak(delay=exc.delay_seconds), delivery)
                MESSAGES.labels(self._decl.durable, "later").inc()
            except Exception as exc:  # temporary by default: retry, then dead-letter
                await self._retry_or_give_up(msg, delivery, exc)
            else:
                await self._settle(msg.ack(), delivery)
                MESSAGES.labels(self._decl.durable, "ack").inc()
                # who handled which message when: the partition tests read this to show order across replicas
                self._log.debug(
                    "message handled",
                    subject=delivery.subject,
                    partition=self._partition,
                    stream_sequence=delivery.stream_sequence,
                    attempt=attempt,
                    started=started_at,
                    finished=time.time(),
                )
            finally:
                HANDLING_SECONDS.labels(self._decl.durable).observe(time.perf_counter() - started)

    def _published(self, stored: str) -> str:
        """The subject the event was published on: what handlers and dead letters name (a partitioned stream
        stores it with its partition token), so a dead letter replays through the stream's mapping."""
        try:
            return self._decl.stream.channel.published(stored)
        except ValueError:
            return stored

    async def _retry_or_give_up(self, msg: Msg, delivery: Delivery, exc: Exception) -> None:
        outage = is_outage(exc)
        kind = "temporary error" if isinstance(exc, TemporaryError) or outage else f"unexpected {type(exc).__name__}"
        if delivery.attempt >= (OUTAGE_DELIVERIES if outage else self._decl.max_deliver):
            await self._dead_letter(msg, delivery, f"{kind} after {delivery.attempt} deliveries: {exc}")
            return
        delay = (
            exc.delay_seconds
            if isinstance(exc, TemporaryError) and exc.delay_seconds is not None
            else retry_delay(delivery.attempt, self._retry_base, self._retry_cap)
        )
        self._log.warning(
            "handler failed; will retry",
            subject=delivery.subject,
            attempt=delivery.attempt,
            delay=delay,
            error=str(exc),
            error_type=type(exc).__name__,
        )
        await self._settle(msg.nak(delay=delay), delivery)
        MESSAGES.labels(self._decl.durable, "retry").inc()

    async def _dead_letter(self, msg: Msg, delivery: Delivery, error: str) -> None:
        error = error[:ERROR_CHARS]
        self._log.error(
            "message dead-lettered",
            subject=delivery.subject,
            attempt=delivery.attempt,
            stream_sequence=delivery.stream_sequence,
            error=error,
        )
        letter = DeadLetter(
            stream=self._decl.stream.name,
            consumer=self._decl.durable,
            subject=delivery.subject,
            stream_sequence=delivery.stream_sequence,
            deliveries=delivery.attempt,
            error=error,
            headers=dict(delivery.headers),
            payload=msg.data[:DEAD_LETTER_PAYLOAD_BYTES],
            payload_size=len(msg.data),
        )
        msg_id = f"dead:{self._decl.stream.name}:{self._decl.durable}:{delivery.stream_sequence}"
        try:
            await publish(
                self._js,
                DEAD_LETTERS,
                self._decl.dead_letter_subject,
                msg_id,
                self._decl.service.value,
                letter,
            )
        except nats.errors.Error as exc:
            # Keep the message rather than lose it: it comes back and is dead-lettered on a later delivery.
            self._log.warning("dead-letter publish failed; keeping the message", error=str(exc))
            await self._settle(msg.nak(delay=self._retry_cap), delivery)
            return
        await self._settle(msg.term(), delivery)
        MESSAGES.labels(self._decl.durable, "dead_letter").inc()

    async def _settle(self, action: Awaitable[None], delivery: Delivery) -> None:
        """Acks, naks and terms are best effort: if one is lost the message is redelivered after ack_wait,
        and handlers are idempotent."""
        try:
            await action
        except Exception as exc:
            self._log.warning("could not settle message", subject=delivery.subject, error=repr(exc))

    async def _keep_alive(self, msg: Msg) -> None:
        interval = max(0.5, self._decl.ack_wait_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await msg.in_progress()
            except Exception:  # the ack, or the redelivery, settles it
                return


def _initialize_metrics(durable: str) -> None:
    """Every result's series exists from the start at 0, so a dashboard or `increase()` sees the first one."""
    for result in ("ack", "later", "retry", "dead_letter"):
        MESSAGES.labels(durable, result)
    REDELIVERIES.labels(durable)
    CONSUMER_PENDING.labels(durable)
