"""The NATS plumbing against a real nats-server with JetStream: declarations, deduplication, redelivery,
dead-lettering, and surviving a kill -9 of the server without losing or doubling an effect."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from arks_common.bus.connection import connect
from arks_common.bus.consumer import Delivery, DurableConsumer, Later, PermanentError, TemporaryError
from arks_common.bus.jetstream import ensure_consumer, ensure_stream, publish
from arks_common.events.contract import (
    DEAD_LETTER_STREAM,
    OBJECTS,
    OBJECTS_STREAM,
    STREAMS,
    ConsumerDecl,
    Service,
    object_msg_id,
    object_subject,
)
from arks_common.events.contract import (
    PLANNER_OBJECTS as PARTITIONED_PLANNER_OBJECTS,
)
from arks_common.events.partitions import DEFAULT_PARTITIONS, ConsumerInstance, partition_of
from arks_common.events.payloads import (
    DEAD_LETTER_PAYLOAD_BYTES,
    DeadLetter,
    Envelope,
    ObjectChanged,
    ObjectKind,
    ObjectRef,
    decode,
)
from arks_common.settings import CommonSettings
from arks_common.telemetry.metrics import MESSAGES
from support.nats_server import NatsServer
from support.waiting import eventually

# One durable shared by every partition: these tests are about the consumer loop, not the partitions.
PLANNER_OBJECTS = dataclasses.replace(PARTITIONED_PLANNER_OBJECTS, partitioned=False)


def _event(name: str, rv: str = "1", namespace: str = "default") -> tuple[str, str, ObjectChanged]:
    ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace=namespace, name=name, uid=f"uid-{name}")
    change = ObjectChanged(ref=ref, resource_version=rv, object={"metadata": {"name": name}})
    return object_subject(ref), object_msg_id(ref, rv, deleted=False), change


@pytest.fixture
async def js(nats_client: Client) -> JetStreamContext:
    context = nats_client.jetstream()
    for stream in STREAMS:
        await ensure_stream(context, stream)
    return context


class Recorder:
    """A handler that records what it saw; optionally fails the first `fail` attempts of every message."""

    def __init__(self, fail: int = 0, error: type[Exception] = TemporaryError) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail = fail
        self.error = error

    async def __call__(self, envelope: Envelope, delivery: Delivery) -> None:
        self.calls.append((envelope.id, delivery.attempt))
        if delivery.attempt <= self.fail:
            raise self.error(f"failing attempt {delivery.attempt} on purpose")


StartConsumer = Callable[[ConsumerDecl, Recorder], Awaitable[None]]


@pytest.fixture
async def run_consumer(js: JetStreamContext) -> AsyncIterator[StartConsumer]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start(decl: ConsumerDecl, handler: Recorder) -> None:
        await ensure_consumer(js, ConsumerInstance(decl, None))
        consumer = DurableConsumer(js, decl, handler, retry_base_seconds=0.05)
        tasks.append(asyncio.create_task(consumer.run(stop), name=f"consumer {decl.durable}"))

    yield start
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)


async def test_declarations_are_idempotent(js: JetStreamContext) -> None:
    for stream in STREAMS:
        await ensure_stream(js, stream)
    await ensure_consumer(js, ConsumerInstance(PLANNER_OBJECTS, None))
    await ensure_consumer(js, ConsumerInstance(PLANNER_OBJECTS, None))
    info = await js.consumer_info("ARKS_OBJECTS", PLANNER_OBJECTS.durable)
    assert info.config.filter_subjects == list(PLANNER_OBJECTS.filter_subjects)
    changed = dataclasses.replace(PLANNER_OBJECTS, max_ack_pending=17)
    await ensure_consumer(js, ConsumerInstance(changed, None))
    assert (await js.consumer_info("ARKS_OBJECTS", PLANNER_OBJECTS.durable)).config.max_ack_pending == 17


async def test_republished_event_is_deduplicated(js: JetStreamContext, run_consumer: StartConsumer) -> None:
    subject, msg_id, change = _event("app-a")
    assert await publish(js, OBJECTS, subject, msg_id, "test", change) is True
    assert await publish(js, OBJECTS, subject, msg_id, "test", change) is False
    recorder = Recorder()
    await run_consumer(PLANNER_OBJECTS, recorder)
    await eventually(lambda: len(recorder.calls) >= 1, what="the event")
    # a later event proves the consumer is past the first; the duplicate never arrived
    subject2, msg_id2, change2 = _event("app-a", rv="2")
    await publish(js, OBJECTS, subject2, msg_id2, "test", change2)
    await eventually(lambda: len(recorder.calls) >= 2, what="the second event")
    assert [c[0] for c in recorder.calls] == [msg_id, msg_id2]


async def test_nak_redelivers_after_the_delay(js: JetStreamContext, run_consumer: StartConsumer) -> None:
    subject, msg_id, change = _event("app-b")
    await publish(js, OBJECTS, subject, msg_id, "test", change)
    recorder = Recorder(fail=2)
    await run_consumer(PLANNER_OBJECTS, recorder)
    await eventually(lambda: len(recorder.calls) >= 3, what="two redeliveries")
    assert recorder.calls == [(msg_id, 1), (msg_id, 2), (msg_id, 3)]

    async def settled() -> bool:  # the third delivery was acked: nothing is waiting for an ack any more
        info = await js.consumer_info("ARKS_OBJECTS", PLANNER_OBJECTS.durable)
        return bool(info.num_ack_pending == 0 and info.num_redelivered == 0 and info.delivered.stream_seq >= 1)

    await eventually(settled, what="the message acked after its third delivery")


async def test_later_brings_the_message_back_after_its_delay_without_counting_a_failure(
    js: JetStreamContext, run_consumer: StartConsumer
) -> None:
    subject, msg_id, change = _event("app-later")
    await publish(js, OBJECTS, subject, msg_id, "test", change)
    seen: list[float] = []

    async def handler(envelope: Envelope, delivery: Delivery) -> None:
        seen.append(time.monotonic())
        if delivery.attempt == 1:
            raise Later("the grace is not over", 1.0)

    retries = MESSAGES.labels(PLANNER_OBJECTS.durable, "retry")._value.get()
    await run_consumer(PLANNER_OBJECTS, handler)  # type: ignore[arg-type]
    await eventually(lambda: len(seen) >= 2, what="the message back after its delay")
    assert seen[1] - seen[0] >= 0.9, f"came back after {seen[1] - seen[0]:.2f} s, before its delay"
    assert MESSAGES.labels(PLANNER_OBJECTS.durable, "later")._value.get() >= 1
    assert MESSAGES.labels(PLANNER_OBJECTS.durable, "retry")._value.get() == retries, "counted as a failure"


async def _dead_letters(js: JetStreamContext, decl: ConsumerDecl, count: int) -> list[DeadLetter]:
    """The first `count` dead letters; a fetch returns what has arrived so far, so fetch until all are in."""
    sub = await js.pull_subscribe(decl.dead_letter_subject, stream=DEAD_LETTER_STREAM.name)
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + 20
    try:
        while len(letters) < count and time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(count - len(letters), timeout=2)
            except nats.errors.TimeoutError:
                continue
            for m in msgs:
                data = decode(m.data).data
                assert isinstance(data, DeadLetter)
                letters.append(data)
                await m.ack()
        assert len(letters) == count, f"{len(letters)} of {count} dead letters arrived"
        return letters
    finally:
        await sub.unsubscribe()


async def test_a_temporary_failure_outlasts_max_deliver_and_is_handled_once_it_heals(
    js: JetStreamContext, run_consumer: StartConsumer
) -> None:
    """An API server or NATS away for longer than `max_deliver` retries take (a minute at the default) must not
    cost the event: nothing would bring it back (the watcher's relist republishes changed objects only)."""
    decl = dataclasses.replace(PLANNER_OBJECTS, max_deliver=3)
    subject, msg_id, change = _event("app-t")
    await publish(js, OBJECTS, subject, msg_id, "test", change)
    recorder = Recorder(fail=5, error=_Outage)
    await run_consumer(decl, recorder)
    await eventually(lambda: (msg_id, 6) in recorder.calls, what="the sixth delivery, after five temporary failures")
    assert [a for i, a in recorder.calls if i == msg_id] == [1, 2, 3, 4, 5, 6]
    info = await js.consumer_info(decl.stream.name, decl.durable)
    assert info.num_ack_pending == 0  # handled and acknowledged, not dead-lettered


class _Outage(TemporaryError):
    """The API server away, as `reconciling` reports a 503 or no connection."""

    def __init__(self, message: str) -> None:
        super().__init__(message, outage=True)


@pytest.mark.parametrize("error", [RuntimeError, TemporaryError], ids=["a bug", "a slow look again"])
async def test_poison_message_is_dead_lettered_after_max_deliver(
    js: JetStreamContext, run_consumer: StartConsumer, error: type[Exception]
) -> None:
    """A failure that is not an outage (an unexpected exception: a bug; a TemporaryError that looks again later:
    a quota, a held name) spends the small budget, so it holds no unacknowledged slot of the consumer for long."""
    decl = dataclasses.replace(PLANNER_OBJECTS, max_deliver=3)
    subject, msg_id, change = _event("app-c")
    await publish(js, OBJECTS, subject, msg_id, "test", change)
    recorder = Recorder(fail=100, error=error)
    await run_consumer(decl, recorder)
    await eventually(lambda: len(recorder.calls) >= 3, what="three attempts")
    [letter] = await _dead_letters(js, decl, 1)
    assert letter.consumer == decl.durable
    assert letter.subject == subject
    assert letter.deliveries == 3
    assert "failing attempt 3 on purpose" in letter.error
    assert decode(letter.payload).id == msg_id
    # terminated: no fourth attempt arrives, even after more than the retry delay
    subject2, msg_id2, change2 = _event("app-c2")
    await publish(js, OBJECTS, subject2, msg_id2, "test", change2)
    await eventually(lambda: any(c[0] == msg_id2 for c in recorder.calls), what="a later event")
    assert [a for i, a in recorder.calls if i == msg_id] == [1, 2, 3]


async def test_permanent_error_and_garbage_are_dead_lettered_at_once(
    js: JetStreamContext, run_consumer: StartConsumer
) -> None:
    subject, msg_id, change = _event("app-d")
    await publish(js, OBJECTS, subject, msg_id, "test", change)
    garbage_subject = OBJECTS.subject("application", "default", "garbage")
    await js.publish(garbage_subject, b"{not json", headers={"Nats-Msg-Id": "garbage-1"})
    wrong_version = b'{"schema_version": 99, "id": "x", "source": "t", "time": "2026-01-01T00:00:00Z", "data": {}}'
    await js.publish(OBJECTS.subject("application", "default", "future"), wrong_version)
    recorder = Recorder(fail=100, error=PermanentError)
    await run_consumer(PLANNER_OBJECTS, recorder)
    letters = await _dead_letters(js, PLANNER_OBJECTS, 3)
    by_subject = {letter.subject: letter for letter in letters}
    assert by_subject[subject].deliveries == 1
    assert "permanent error" in by_subject[subject].error
    assert "undecodable" in by_subject[garbage_subject].error
    assert by_subject[garbage_subject].payload == b"{not json"
    assert "schema_version 99 is not supported" in by_subject[OBJECTS.subject("application", "default", "future")].error
    assert recorder.calls == [(msg_id, 1)]


async def test_any_decoding_failure_is_dead_lettered_and_its_siblings_are_handled(
    js: JetStreamContext, run_consumer: StartConsumer
) -> None:
    """Nesting deep enough to break the decoder's recursion, and a message too big for its own dead letter to
    carry whole, are dead-lettered like any garbage; the good events in the same batch are handled."""
    deep = b'{"schema_version": 1, "id": "d", "source": "t", "time": "2026-01-01T00:00:00Z", "data": '
    deep += b"[" * 100_000 + b"]" * 100_000 + b"}"
    huge = b"{" + b" " * 900_000 + b"}"
    bad = {
        OBJECTS.subject("application", "default", "deep"): deep,
        OBJECTS.subject("application", "default", "huge"): huge,
    }
    for subject, data in bad.items():
        await js.publish(subject, data)
    good = [_event(f"good-{i}") for i in range(5)]
    for subject, msg_id, change in good:
        await publish(js, OBJECTS, subject, msg_id, "test", change)
    recorder = Recorder()
    await run_consumer(PLANNER_OBJECTS, recorder)
    letters = {letter.subject: letter for letter in await _dead_letters(js, PLANNER_OBJECTS, 2)}
    assert set(letters) == set(bad)
    for subject, letter in letters.items():
        assert "undecodable" in letter.error
        assert letter.payload_size == len(bad[subject])
        assert letter.payload == bad[subject][:DEAD_LETTER_PAYLOAD_BYTES]
    await eventually(lambda: len(recorder.calls) == len(good), what="the good events")
    assert sorted(c[0] for c in recorder.calls) == sorted(msg_id for _, msg_id, _ in good)


async def test_kill_9_of_the_server_loses_and_doubles_nothing(nats_server: NatsServer) -> None:
    """Publish 300 events while the server is killed and restarted on the same store; every one reaches the
    handler's effect exactly once."""
    total = 300
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = client.jetstream()
    for stream in STREAMS:
        await ensure_stream(js, stream)
    await ensure_consumer(js, ConsumerInstance(PLANNER_OBJECTS, None))
    deliveries: Counter[str] = Counter()

    async def handler(envelope: Envelope, delivery: Delivery) -> None:
        deliveries[envelope.id] += 1

    stop = asyncio.Event()
    consumer = DurableConsumer(js, PLANNER_OBJECTS, handler, retry_base_seconds=0.05)
    task = asyncio.create_task(consumer.run(stop), name="consumer under kill -9")
    sent: list[str] = []
    for i in range(total):
        subject, msg_id, change = _event(f"app-{i}")
        if i == total // 2:
            nats_server.kill9()
            nats_server.start()
        while True:  # a publisher retries until JetStream acknowledged (or reports a duplicate)
            try:
                await publish(js, OBJECTS, subject, msg_id, "test", change)
                break
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(0.1)
        sent.append(msg_id)
    await eventually(lambda: len(deliveries) == total, within=60, what="every event handled")
    stored = (await js.stream_info("ARKS_OBJECTS")).state.messages
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    await client.close()
    assert set(deliveries) == set(sent), "an acknowledged event was lost"
    # the publisher's retries across the kill carried the same Nats-Msg-Id: the stream holds each event once
    assert stored == total, f"{stored} messages stored for {total} events"


async def test_a_service_waits_for_a_nats_server_that_starts_after_it(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "late")
    server.workdir.mkdir()
    server.start()
    port = server.port
    server.stop()  # the port is known and nobody listens on it now
    closed = asyncio.Event()
    settings = CommonSettings(nats_url=f"nats://127.0.0.1:{port}", nats_connect_deadline_seconds=30)
    connecting = asyncio.create_task(connect(settings, Service.PLANNER.value, closed, asyncio.Event()))
    try:
        await asyncio.sleep(1.0)  # a second of outage: the first attempts fail against the closed port...
        assert not connecting.done(), "the service gave up instead of waiting for NATS"  # ...and it keeps trying
        server.start()  # on the same port
        client = await asyncio.wait_for(connecting, timeout=30)
        assert client is not None
        assert client.is_connected
        await client.close()
    finally:
        connecting.cancel()
        server.stop()


class Overlap:
    """A handler that records how many of its calls overlapped at most."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.calls = 0

    async def __call__(self, envelope: Envelope, delivery: Delivery) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.05)
        self.now -= 1
        self.calls += 1


@pytest.mark.parametrize(("in_order", "overlap"), [(True, False), (False, True)], ids=["in order", "unordered"])
async def test_one_subjects_messages_overlap_only_where_order_is_declared_irrelevant(
    js: JetStreamContext, run_consumer: StartConsumer, in_order: bool, overlap: bool
) -> None:
    for rv in range(1, 5):  # the stream keeps four per subject
        subject, msg_id, change = _event("same-app", rv=str(rv))
        await publish(js, OBJECTS, subject, msg_id, "test", change)
    handler = Overlap()
    await run_consumer(dataclasses.replace(PLANNER_OBJECTS, in_order=in_order), handler)  # type: ignore[arg-type]
    await eventually(lambda: handler.calls == 4, what="all four messages handled")
    assert (handler.most > 1) is overlap


async def test_a_service_gives_up_on_an_absent_nats_at_its_deadline(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "never")
    server.workdir.mkdir()
    server.start()
    port = server.port
    server.stop()  # nobody listens on it now, and nobody will
    settings = CommonSettings(nats_url=f"nats://127.0.0.1:{port}", nats_connect_deadline_seconds=2)
    # nats.py retries a first connection forever by itself; the deadline must still end it (then it restarts).
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(connect(settings, Service.PLANNER.value, asyncio.Event(), asyncio.Event()), timeout=10)


async def test_connecting_ends_at_once_when_told_to_stop(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "never")
    server.workdir.mkdir()
    server.start()
    port = server.port
    server.stop()
    stop = asyncio.Event()
    settings = CommonSettings(nats_url=f"nats://127.0.0.1:{port}")
    connecting = asyncio.create_task(connect(settings, Service.PLANNER.value, asyncio.Event(), stop))
    await asyncio.sleep(1.0)  # a few failed attempts
    assert not connecting.done()
    stop.set()
    assert await asyncio.wait_for(connecting, timeout=2) is None


class Gate:
    """A handler that holds every message of the subjects in `held` until `release` is set, and records when
    each message began and ended."""

    def __init__(self, held: set[str]) -> None:
        self.held = held
        self.release = asyncio.Event()
        self.began: list[str] = []
        self.ended: list[str] = []

    async def __call__(self, envelope: Envelope, delivery: Delivery) -> None:
        self.began.append(envelope.id)
        if delivery.subject in self.held:
            await self.release.wait()
        self.ended.append(envelope.id)


@pytest.mark.parametrize("in_order", [True, False], ids=["in order", "unordered"])
async def test_a_slow_message_does_not_hold_back_later_messages_of_other_subjects(
    js: JetStreamContext, run_consumer: StartConsumer, in_order: bool
) -> None:
    slow_subject, slow_id, slow = _event("slow-app")
    gate = Gate({slow_subject})
    await run_consumer(dataclasses.replace(PLANNER_OBJECTS, in_order=in_order), gate)  # type: ignore[arg-type]
    await publish(js, OBJECTS, slow_subject, slow_id, "test", slow)
    await eventually(lambda: gate.began == [slow_id], what="the slow message taken")
    # published after the slow one was fetched: it comes in a later fetch, while the slow one still runs
    subject, fast_id, fast = _event("fast-app")
    await publish(js, OBJECTS, subject, fast_id, "test", fast)
    await eventually(lambda: fast_id in gate.ended, within=5, what="the later message handled meanwhile")
    assert slow_id not in gate.ended
    gate.release.set()
    await eventually(lambda: slow_id in gate.ended, what="the slow message finished")


async def test_a_subjects_later_message_waits_for_its_slow_predecessor_across_fetches(
    js: JetStreamContext, run_consumer: StartConsumer
) -> None:
    subject, first_id, first = _event("one-app", rv="1")
    gate = Gate({subject})
    await run_consumer(PLANNER_OBJECTS, gate)  # type: ignore[arg-type]
    await publish(js, OBJECTS, subject, first_id, "test", first)
    await eventually(lambda: gate.began == [first_id], what="the first message taken")
    _, second_id, second = _event("one-app", rv="2")
    await publish(js, OBJECTS, subject, second_id, "test", second)
    other_subject, other_id, other = _event("other-app")
    await publish(js, OBJECTS, other_subject, other_id, "test", other)
    await eventually(lambda: other_id in gate.ended, within=5, what="another subject's message handled meanwhile")
    assert gate.began == [first_id, other_id]  # the same subject's second waits, fetched or not
    gate.release.set()
    await eventually(lambda: gate.ended[-2:] == [first_id, second_id], what="the subject's messages in order")


async def test_a_message_waiting_behind_its_subjects_slow_predecessor_is_not_redelivered(
    js: JetStreamContext, run_consumer: StartConsumer
) -> None:
    subject, first_id, first = _event("patient-app", rv="1")
    gate = Gate({subject})
    attempts: list[tuple[str, int]] = []

    async def handler(envelope: Envelope, delivery: Delivery) -> None:
        attempts.append((envelope.id, delivery.attempt))
        await gate(envelope, delivery)

    # a short ack wait: the second message waits several of them behind the first
    await run_consumer(dataclasses.replace(PLANNER_OBJECTS, ack_wait_seconds=1), handler)  # type: ignore[arg-type]
    await publish(js, OBJECTS, subject, first_id, "test", first)
    await eventually(lambda: gate.began == [first_id], what="the first message taken")
    _, second_id, second = _event("patient-app", rv="2")
    await publish(js, OBJECTS, subject, second_id, "test", second)
    await asyncio.sleep(4)  # four ack waits: a message nobody keeps alive is redelivered meanwhile
    gate.release.set()
    await eventually(lambda: gate.ended[-2:] == [first_id, second_id], what="both handled, in order")
    await asyncio.sleep(1.5)
    assert attempts == [(first_id, 1), (second_id, 1)]


async def test_a_replica_computes_the_partition_the_server_stores_an_object_in(js: JetStreamContext) -> None:
    """`partition_of` must agree with nats-server's own `partition()` mapping, or a replica would act on objects
    of a partition another replica holds (and leave its own alone)."""
    names = [("default", f"app-{i}") for i in range(40)]
    names += [("team-a", "chat"), ("team", "a-chat"), ("ns", "x.y"), ("", "no-namespace"), ("ns", "é" * 20)]
    for namespace, name in names:
        subject, msg_id, change = _event(name, namespace=namespace)
        await publish(js, OBJECTS, subject, msg_id, "test", change)
    info = await js.stream_info(OBJECTS_STREAM.name)
    stored: dict[tuple[str, str], int] = {}
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(OBJECTS_STREAM.name, seq)
        assert message.subject is not None
        tokens = message.subject.split(".")  # arks.object.<kind>.<partition>.<namespace>.<name>
        parsed = OBJECTS.parse(message.subject)
        stored[parsed["namespace"], parsed["name"]] = int(tokens[3])
    assert len(stored) == len(names)
    assert {key: partition_of(*key, DEFAULT_PARTITIONS) for key in stored} == stored
    assert len(set(stored.values())) > 4, "the names should spread over the partitions"
