"""NATS permissions: every subject a service really uses is allowed to it, and nothing of another's is.

The subjects a service uses are computed independently of `permissions.py` where possible: the channel
declarations for events, and nats-py itself (its JetStream manager, with the request recorded instead of sent)
for the JetStream API. The end-to-end suite proves the same against a real nats-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from nats.js.manager import JetStreamManager

from arks_common.bus.jetstream import consumer_config, stream_config
from arks_common.events import permissions as perm
from arks_common.events.contract import (
    CHANNELS,
    CONSUMERS,
    DEAD_LETTERS,
    OBJECTS,
    STREAMS,
    ConsumerDecl,
    Service,
    consumers_of,
    inbox_prefix,
)
from arks_common.events.partitions import MAX_PARTITIONS, ConsumerInstance, permitted_instances

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "deploy" / "charts"
SAMPLE = {"kind": "application", "namespace": "default", "name": "app-qwen", "service": "x", "consumer": "y"}


def sample_subject(channel: Any, **override: str) -> str:
    return str(channel.subject(*({**SAMPLE, **override}[p] for p in channel.params)))


class _Version:
    major, minor = 2, 11


class _RecordingConn:
    """Stands in for the connection under nats-py's JetStreamManager: records request subjects, answers
    nothing useful. Only the subjects matter here."""

    connected_server_version = _Version()

    def __init__(self) -> None:
        self.subjects: list[str] = []


def jetstream_subjects(calls: Any) -> list[str]:
    """The request subjects nats-py's JetStreamManager sends for `calls(jsm)`."""
    conn = _RecordingConn()
    jsm = JetStreamManager(conn)  # type: ignore[arg-type]

    async def record(subject: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        conn.subjects.append(subject)
        raise _Stop

    jsm._api_request = record  # type: ignore[method-assign,assignment]

    async def run() -> None:
        for call in calls(jsm):
            with contextlib.suppress(_Stop):
                await call

    asyncio.run(run())
    return conn.subjects


class _Stop(Exception):
    pass


@pytest.mark.parametrize("channel", [c for c in CHANNELS if c is not DEAD_LETTERS], ids=lambda c: c.name)
def test_channel_publishers_and_only_they_may_publish_on_it(channel: Any) -> None:
    """Dead letters are per consumer: see the consumer tests."""
    subject = sample_subject(channel)
    for service in Service:
        allowed = perm.may_publish(perm.permissions_of(service), subject)
        assert allowed == (service in channel.publishers), f"{service} on {subject}"


def stream_declarations() -> list[str]:
    return jetstream_subjects(
        lambda jsm: [
            call
            for decl in STREAMS
            for call in (jsm.add_stream(stream_config(decl)), jsm.update_stream(stream_config(decl)))
        ]
    )


def consumer_creations(consumer: ConsumerDecl) -> list[str]:
    """Every durable of the declaration, for the largest P allowed (partitioned) or the one shared."""
    return jetstream_subjects(
        lambda jsm: [jsm.add_consumer(consumer.stream.name, consumer_config(i)) for i in permitted_instances(consumer)]
    )


@pytest.mark.parametrize("consumer", CONSUMERS, ids=lambda c: c.durable)
def test_consumer_owner_may_inspect_pull_ack_and_dead_letter_but_not_create(consumer: ConsumerDecl) -> None:
    owner = perm.permissions_of(consumer.service)
    stream = consumer.stream.name
    used = [consumer.dead_letter_subject]
    for instance in permitted_instances(consumer):
        durable = instance.durable
        used += [
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.1.42.7.1730000000000000000.0",
        ]
    beyond = ConsumerInstance(consumer, MAX_PARTITIONS).durable
    assert not perm.may_publish(owner, f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{beyond}"), "a partition past the max"
    for subject in used:
        assert perm.may_publish(owner, subject), subject
    created = consumer_creations(consumer)
    assert created
    for service in Service:
        assert not any(perm.may_publish(perm.permissions_of(service), s) for s in created), service
        if service is not consumer.service:
            assert not any(perm.may_publish(perm.permissions_of(service), s) for s in used), service


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_every_service_may_inspect_but_never_declare_or_delete_a_stream(service: Service) -> None:
    perms = perm.permissions_of(service)
    inspected = jetstream_subjects(lambda jsm: [jsm.stream_info(decl.name) for decl in STREAMS])
    assert len(inspected) == len(STREAMS)
    assert all(perm.may_publish(perms, s) for s in inspected), inspected
    declared = stream_declarations()
    assert len(declared) == 2 * len(STREAMS)
    deleted = jetstream_subjects(lambda jsm: [jsm.delete_stream(decl.name) for decl in STREAMS])
    for subject in (*declared, *deleted):
        assert not perm.may_publish(perms, subject), subject
    assert perm.may_subscribe(perms, f"{inbox_prefix(service)}.abc.def")
    others = [other for other in Service if other is not service]
    assert not perm.may_subscribe(perms, f"{inbox_prefix(others[0])}.abc.def"), "another service's replies"
    assert not perm.may_subscribe(perms, "_INBOX.abc.def")


def test_the_bootstrap_user_declares_and_repartitions_every_stream_and_consumer_and_nothing_else() -> None:
    bootstrap = perm.bootstrap_permissions()
    declared = [
        *jetstream_subjects(lambda jsm: [jsm.stream_info(decl.name) for decl in STREAMS]),
        *stream_declarations(),
        *(s for consumer in CONSUMERS for s in consumer_creations(consumer)),
    ]
    # a repartition reads each subject's newest message, publishes it again on its channel and purges the old
    moved = [
        *jetstream_subjects(lambda jsm: [jsm.get_msg(decl.name, 1) for decl in STREAMS]),
        *jetstream_subjects(lambda jsm: [jsm.purge_stream(decl.name) for decl in STREAMS]),
        *(sample_subject(decl.channel) for decl in STREAMS),
    ]
    for subject in (*declared, *moved):
        assert perm.may_publish(bootstrap, subject), subject
    deleted = jetstream_subjects(lambda jsm: [jsm.delete_stream(decl.name) for decl in STREAMS])
    for subject in (*deleted, "$JS.API.STREAM.DELETE.ARKS_PLANS", "arks.other.x"):
        assert not perm.may_publish(bootstrap, subject), subject
    assert not perm.may_subscribe(bootstrap, sample_subject(OBJECTS))
    assert perm.may_subscribe(bootstrap, f"{inbox_prefix('bootstrap')}.abc")
    assert perm.BOOTSTRAP_USER in perm.all_users()


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_only_stream_readers_read_the_last_message_of_a_subject(service: Service) -> None:
    readers = perm.STREAM_READERS.get(service, ())
    perms = perm.permissions_of(service)
    for decl in STREAMS:
        subjects = jetstream_subjects(lambda jsm, d=decl: [jsm.get_last_msg(d.name, sample_subject(d.channel))])
        assert all(perm.may_publish(perms, s) == (decl in readers) for s in subjects), (decl.name, subjects)


def test_no_service_may_subscribe_to_events_directly_or_touch_other_apis() -> None:
    for service in Service:
        perms = perm.permissions_of(service)
        assert not perm.may_subscribe(perms, "arks.object.application.default.x")
        for subject in ("$JS.API.STREAM.DELETE.ARKS_OBJECTS", "$JS.API.STREAM.PURGE.ARKS_OBJECTS", "arks.other.x"):
            assert not perm.may_publish(perms, subject), (service, subject)


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_only_the_planner_purges_plans_of_deleted_applications(service: Service) -> None:
    perms = perm.permissions_of(service)
    subjects = jetstream_subjects(lambda jsm: [jsm.purge_stream("ARKS_PLANS", subject="arks.plan.default.x", seq=3)])
    assert subjects
    assert all(perm.may_publish(perms, s) == (service is Service.PLANNER) for s in subjects), subjects


def test_the_reader_follows_every_channel_and_publishes_nothing() -> None:
    reader = perm.reader_permissions()
    for channel in CHANNELS:
        assert perm.may_subscribe(reader, sample_subject(channel))
        assert not perm.may_publish(reader, sample_subject(channel))


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("arks.plan.>", "arks.plan.ns.name", True),
        ("arks.plan.>", "arks.plan", False),
        ("arks.*.x", "arks.plan.x", True),
        ("arks.*.x", "arks.plan.y", False),
        ("$JS.API.INFO", "$JS.API.INFO", True),
        ("$JS.API.INFO", "$JS.API.INFO.more", False),
    ],
    ids=["tail wildcard", "tail needs a token", "star one token", "star other token", "literal", "literal exact"],
)
def test_subject_matching(pattern: str, subject: str, expected: bool) -> None:
    assert perm.subject_matches(pattern, subject) is expected


def test_authorization_config_has_every_user_and_no_secret() -> None:
    text = perm.server_authorization()
    for user in perm.all_users():
        assert f'user: "{user}"' in text
        assert f"password: ${perm.password_variable(user)}" in text
    with_passwords = perm.server_authorization({u: f"pw-{u}" for u in perm.all_users()})
    assert 'password: "pw-arks-planner"' in with_passwords


def test_nats_chart_values_take_every_password_from_the_secret() -> None:
    values = perm.nats_chart_values()
    users = values["config"]["merge"]["authorization"]["users"]
    assert {u["user"] for u in users} == set(perm.all_users())
    for user in users:
        var = user["password"].removeprefix("<< $").removesuffix(" >>")
        ref = values["container"]["env"][var]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": perm.SECRET_NAME, "key": perm.secret_key(user["user"])}


# ---------------------------------------------------------------------------------------------- the charts

SHARED_TEMPLATES = (
    "_helpers.tpl",
    "deployment.yaml",
    "serviceaccount.yaml",
    "rbac.yaml",
    "service.yaml",
    "servicemonitor.yaml",
    "pdb.yaml",
    "bus-bootstrap-job.yaml",
    "NOTES.txt",
)


def test_there_is_one_chart_per_service_sharing_the_same_templates() -> None:
    first = CHARTS / Service.WATCHER.value / "templates"
    for service in Service:
        templates = CHARTS / service.value / "templates"
        assert (templates / "_service.tpl").is_file(), service
        for name in SHARED_TEMPLATES:
            assert (templates / name).read_text() == (first / name).read_text(), f"{service}: {name} drifted"


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_chart_values_name_the_generated_nats_user(service: Service) -> None:
    values = yaml.safe_load((CHARTS / service.value / "values.yaml").read_text())
    assert values["nats"]["user"] == perm.nats_user(service)
    assert values["nats"]["auth"]["existingSecret"] == perm.SECRET_NAME
    assert values["nats"]["auth"]["passwordKey"] == perm.secret_key(perm.nats_user(service))
    schema = json.loads((CHARTS / service.value / "values.schema.json").read_text())
    assert set(values) == set(schema["properties"]), "values.yaml and values.schema.json disagree"


def test_every_service_with_consumers_may_dead_letter_only_its_own() -> None:
    for service in Service:
        own = {c.dead_letter_subject for c in consumers_of(service)}
        dead = {s for s in perm.permissions_of(service).publish if s.startswith(f"{DEAD_LETTERS.wildcard[:-1]}")}
        assert dead == own, service
