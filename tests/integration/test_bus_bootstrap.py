"""The bus is declared once by `arks-bus-bootstrap`; a service waits, not ready and not crashing, until the
streams and its consumers are exactly as its version declares them, and stops at once when told to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig

from arks_common.bus import jetstream
from arks_common.bus.bootstrap import declare_all, differences, wait_until_declared
from arks_common.bus.jetstream import WrongLastSequence, publish, stream_config
from arks_common.bus.plans import newest_plan
from arks_common.events.contract import CONSUMERS, OBJECTS_STREAM, PLANS, PLANS_STREAM, Service, consumers_of
from arks_common.events.payloads import ObjectKind, ObjectRef, PlanReady, PrecheckResult
from arks_common.events.permissions import BOOTSTRAP_USER, nats_user
from support.auth import NatsUsers
from support.nats_server import NatsServer

PLANNER = tuple(consumers_of(Service.PLANNER))


async def test_a_service_waits_until_the_bootstrap_declared_the_bus(nats_client: Client) -> None:
    js = nats_client.jetstream()
    assert await differences(js, PLANNER), "nothing is declared yet"
    stop = asyncio.Event()
    waiting = asyncio.create_task(wait_until_declared(js, PLANNER, stop))
    await asyncio.sleep(0.5)
    assert not waiting.done(), "the service went on with an undeclared bus"
    await declare_all(js, replicas=1)
    assert await asyncio.wait_for(waiting, timeout=15) is True
    assert await differences(js, CONSUMERS) == []


async def test_a_changed_stream_is_named_and_waited_for_and_the_bootstrap_restores_it(nats_client: Client) -> None:
    js = nats_client.jetstream()
    await declare_all(js, replicas=1)
    info = await js.stream_info(OBJECTS_STREAM.name)
    changed = StreamConfig.from_response(info.config.as_dict())
    changed.max_msgs_per_subject = 1_000
    await js.update_stream(changed)
    problems = await differences(js, PLANNER)
    assert problems == [
        f"stream {OBJECTS_STREAM.name}: max_msgs_per_subject is 1000, "
        f"this version needs {OBJECTS_STREAM.max_msgs_per_subject!r}"
    ]
    await declare_all(js, replicas=1)  # idempotent, and it brings the stream back
    assert await differences(js, CONSUMERS) == []


async def test_a_waiting_service_stops_at_once_when_told(nats_client: Client) -> None:
    stop = asyncio.Event()
    waiting = asyncio.create_task(wait_until_declared(nats_client.jetstream(), PLANNER, stop))
    await asyncio.sleep(0.3)
    stop.set()
    assert await asyncio.wait_for(waiting, timeout=2) is False


async def test_an_older_unpartitioned_stream_is_repartitioned_keeping_each_newest_plan(nats_client: Client) -> None:
    """A bus declared before partitions (no subject mapping, plans stored as `arks.plan.<ns>.<name>`): the
    bootstrap maps the stream and moves each subject's newest message into its partition, where readers and the
    compare-and-set find it; a second repartition (8 -> 4) does the same; a service set for another P is told."""
    js = nats_client.jetstream()
    old = stream_config(PLANS_STREAM)
    old.subject_transform = None
    await js.add_stream(old)
    plan = _plan("ns", "app", "uid-1")
    await publish(js, PLANS, PLANS.subject("ns", "app"), "plan:1", "test", plan, after_sequence=0)
    await publish(js, PLANS, PLANS.subject("ns", "older"), "plan:2", "test", _plan("ns", "older", "uid-2"))
    assert (await js.stream_info(PLANS_STREAM.name)).state.messages == 2

    for partitions in (8, 4):
        await declare_all(js, replicas=1, partitions=partitions)
        assert await differences(js, CONSUMERS, partitions) == []
        info = await js.stream_info(PLANS_STREAM.name, subjects_filter=PLANS.wildcard)
        stored = sorted(info.state.subjects or {})
        assert len(stored) == 2, stored
        assert all(len(s.split(".")) == 5 for s in stored), f"not in a partition: {stored}"
        sequence, found = await newest_plan(js, "ns", "app")
        assert found is not None
        assert found.ref.uid == "uid-1"
        with pytest.raises(WrongLastSequence):  # the compare-and-set still sees the moved plan as the newest
            await publish(
                js, PLANS, PLANS.subject("ns", "app"), f"plan:stale:{partitions}", "t", plan, after_sequence=0
            )
        await publish(js, PLANS, PLANS.subject("ns", "app"), f"plan:next:{partitions}", "t", plan, sequence)

    problems = await differences(js, PLANNER, partitions=8)
    assert any("partitioned into 4 partitions, this service is set for 8 (ARKS_BUS_PARTITIONS" in p for p in problems)


def _plan(namespace: str, name: str, uid: str) -> PlanReady:
    ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace=namespace, name=name, uid=uid)
    verdict = PrecheckResult(passed=True, reason="PrecheckPass", message="ok")
    return PlanReady(ref=ref, generation=1, resource_version="1", precheck=verdict, plan_hash="h")


async def test_the_bootstrap_user_repartitions_and_a_move_cut_short_is_done_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the chart runs it: `arks-bootstrap` under the generated authorization, P 8 -> 4 on a bus holding plans.
    The first run is cut short after the stream maps anew (a timeout, a killed Job); the Job's retry must still
    move the plans, or a plan left under its old partition is found by `newest_plan` while the compare-and-set
    checks the new, empty subject and the planner can never publish for that application again."""
    users = NatsUsers.create(tmp_path / "users")
    server = NatsServer(tmp_path / "nats", extra_args=users.server_args)
    server.workdir.mkdir()
    server.start()

    async def connect(user: str, service: str) -> Client:
        return await nats.connect(server.url, inbox_prefix=f"_INBOX_{service}", **users.options(user))

    bootstrap = await connect(BOOTSTRAP_USER, "bootstrap")
    planner = await connect(nats_user(Service.PLANNER), Service.PLANNER.value)
    try:
        await declare_all(bootstrap.jetstream(), replicas=1, partitions=8)
        pjs = planner.jetstream()
        names = [f"app-{i}" for i in range(12)]  # some land in another partition of 4 than of 8
        for name in names:
            await publish(pjs, PLANS, PLANS.subject("ns", name), f"plan:{name}", "planner", _plan("ns", name, name), 0)

        async def cut_short(*_: object) -> int:
            raise TimeoutError("the Job was killed mid-move")

        with monkeypatch.context() as patched:
            patched.setattr(jetstream, "_repartition", cut_short)
            with pytest.raises(TimeoutError):
                await declare_all(bootstrap.jetstream(), replicas=1, partitions=4)
        problems = await differences(pjs, PLANNER, partitions=4)
        assert any("not yet moved" in p for p in problems), problems  # services wait meanwhile

        await declare_all(bootstrap.jetstream(), replicas=1, partitions=4)  # the Job's retry
        assert await differences(pjs, PLANNER, partitions=4) == []
        for name in names:
            sequence, found = await newest_plan(pjs, "ns", name)
            assert found is not None
            assert found.ref.uid == name
            await publish(pjs, PLANS, PLANS.subject("ns", name), f"plan:{name}:2", "planner", found, sequence)
    finally:
        await planner.close()
        await bootstrap.close()
        server.stop()
