"""Who may publish and subscribe on which NATS subjects: one NATS user per service, derived from the contract.

Every subject here is built from the declarations in `contract.py` (channels, streams, consumers), never
written by hand, so a new channel or consumer changes the permissions with it. This module only computes and
renders; it must not connect to NATS or read the environment.

What a service does on the bus, and the subjects that takes (nats-py 2.x against nats-server 2.10+):
- publishes events on the channels it is a publisher of, and dead letters only on its own consumers'
  dead-letter subjects;
- verifies at start that every stream and its own durable consumers are declared as its version expects
  (`$JS.API.STREAM.INFO.<stream>`, `$JS.API.CONSUMER.INFO.<stream>.<durable>`); only the bootstrap user
  creates or updates them (`$JS.API.STREAM.CREATE|UPDATE.<stream>`, `$JS.API.CONSUMER.DURABLE.CREATE...`
  or the 2.9+ named form `$JS.API.CONSUMER.CREATE.<stream>.<durable>[.<filter>]`), and nobody but the
  admin deletes them;
- pulls from its consumers (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`, a partitioned declaration's
  `<durable>-<p>` for every p below `events.partitions.MAX_PARTITIONS`) and acks, naks and
  in-progress-acks on the reply subjects JetStream gives (`$JS.ACK.<stream>.<durable>.>`);
- reads the last message of a subject from the streams listed in `STREAM_READERS`
  (`$JS.API.STREAM.MSG.GET.<stream>`, or the direct-get form);
- receives every reply (API responses, publish acks, fetched messages) on its own inbox, `_INBOX_<service>.>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from arks_common.events.contract import (
    CHANNELS,
    CONSUMERS,
    DEAD_LETTERS,
    ENDPOINT_PLANS_STREAM,
    PLANS_STREAM,
    ROOT,
    STREAMS,
    ConsumerDecl,
    Service,
    StreamDecl,
    channels_published_by,
    consumers_of,
    inbox_prefix,
)
from arks_common.events.partitions import ConsumerInstance, permitted_instances

JS_API = "$JS.API"
JS_ACK = "$JS.ACK"
INBOX = "_INBOX.>"
"""The default inbox of NATS clients (the `nats` CLI): for the reader and admin users, not for services."""

# Streams a service reads the newest message of a subject from (not through a consumer): the deployer finds
# the current plan of an application there (services/deployer adapters/plans.py), and the planner reads it
# before publishing so that an older verdict never replaces a newer one (services/planner adapters/plans.py).
# The same for ArksEndpoints' plans.
STREAM_READERS: Mapping[Service, tuple[StreamDecl, ...]] = {
    Service.DEPLOYER: (PLANS_STREAM, ENDPOINT_PLANS_STREAM),
    Service.PLANNER: (PLANS_STREAM, ENDPOINT_PLANS_STREAM),
}
# Streams a service purges subjects of: the planner removes a deleted application's (endpoint's) last plan.
STREAM_PURGERS: Mapping[Service, tuple[StreamDecl, ...]] = {
    Service.PLANNER: (PLANS_STREAM, ENDPOINT_PLANS_STREAM),
}

BOOTSTRAP_USER = "arks-bootstrap"
"""Declares the streams and consumers (`arks-bus-bootstrap`); publishes and consumes nothing."""
ADMIN_USER = "arks-admin"
"""Full access, for operators and the test suites; not used by any service."""
READER_USER = "arks-reader"
"""Subscribe-only on `arks.>`: what other programs use to follow the public event subjects."""
SECRET_NAME = "arks-nats-users"
"""The Kubernetes Secret holding one password per NATS user, keyed by `secret_key(...)`."""


def nats_user(service: Service) -> str:
    return f"arks-{service.value}"


def password_variable(user: str) -> str:
    """The environment variable the NATS server reads a user's password from (`arks-model-loader` ->
    `ARKS_NATS_PASSWORD_MODEL_LOADER`)."""
    return "ARKS_NATS_PASSWORD_" + user.removeprefix("arks-").upper().replace("-", "_")


def secret_key(user: str) -> str:
    """The key of a user's password in the `arks-nats-users` Secret: the service name (`planner`)."""
    return user.removeprefix("arks-")


@dataclass(frozen=True)
class SubjectPermissions:
    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def stream_declare_subjects(stream: StreamDecl) -> list[str]:
    return [f"{JS_API}.STREAM.{verb}.{stream.name}" for verb in ("INFO", "CREATE", "UPDATE")]


def consumer_declare_subjects(consumer: ConsumerDecl) -> list[str]:
    """For each durable of the declaration (one per partition any allowed P may have)."""
    return [s for instance in permitted_instances(consumer) for s in _declare_subjects(instance)]


def _declare_subjects(instance: ConsumerInstance) -> list[str]:
    stream, durable = instance.decl.stream.name, instance.durable
    return [
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}",
        f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}.>",
        f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
    ]


def consumer_use_subjects(consumer: ConsumerDecl) -> list[str]:
    """For each durable of the declaration (one per partition any allowed P may have)."""
    return [s for instance in permitted_instances(consumer) for s in _use_subjects(instance)]


def _use_subjects(instance: ConsumerInstance) -> list[str]:
    stream, durable = instance.decl.stream.name, instance.durable
    return [
        f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"{JS_ACK}.{stream}.{durable}.>",
    ]


def stream_read_subjects(stream: StreamDecl) -> list[str]:
    return [
        f"{JS_API}.STREAM.MSG.GET.{stream.name}",
        f"{JS_API}.DIRECT.GET.{stream.name}",
        f"{JS_API}.DIRECT.GET.{stream.name}.>",
    ]


def permissions_of(service: Service) -> SubjectPermissions:
    consumers = consumers_of(service)
    publish = [ch.wildcard for ch in channels_published_by(service) if ch is not DEAD_LETTERS]
    publish += [c.dead_letter_subject for c in consumers]
    publish.append(f"{JS_API}.INFO")
    publish += [f"{JS_API}.STREAM.INFO.{stream.name}" for stream in STREAMS]
    for consumer in consumers:
        publish += consumer_use_subjects(consumer)
    for stream in STREAM_PURGERS.get(service, ()):
        publish.append(f"{JS_API}.STREAM.PURGE.{stream.name}")
    for stream in STREAM_READERS.get(service, ()):
        publish += stream_read_subjects(stream)
    return SubjectPermissions(nats_user(service), tuple(dict.fromkeys(publish)), (f"{inbox_prefix(service)}.>",))


def reader_permissions() -> SubjectPermissions:
    return SubjectPermissions(READER_USER, (), (f"{ROOT}.>", INBOX))


def bootstrap_permissions() -> SubjectPermissions:
    publish = [f"{JS_API}.INFO"]
    for stream in STREAMS:
        publish += stream_declare_subjects(stream)
        # a repartition moves each subject's newest message: read it, publish it again, purge the old copy
        publish += [f"{JS_API}.STREAM.MSG.GET.{stream.name}", f"{JS_API}.STREAM.PURGE.{stream.name}"]
        publish.append(stream.channel.wildcard)
    for consumer in CONSUMERS:
        publish += consumer_declare_subjects(consumer)
    inbox = f"{inbox_prefix(BOOTSTRAP_USER.removeprefix('arks-'))}.>"
    return SubjectPermissions(BOOTSTRAP_USER, tuple(dict.fromkeys(publish)), (inbox,))


def all_permissions() -> tuple[SubjectPermissions, ...]:
    return (*(permissions_of(s) for s in Service), reader_permissions(), bootstrap_permissions())


def all_users() -> tuple[str, ...]:
    return (*(p.user for p in all_permissions()), ADMIN_USER)


def public_subjects() -> tuple[str, ...]:
    """Every channel's wildcard: what the reader user may follow."""
    return tuple(ch.wildcard for ch in CHANNELS)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` is one or more tokens."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return i == len(want) - 1 and len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def may_publish(perms: SubjectPermissions, subject: str) -> bool:
    return any(subject_matches(p, subject) for p in perms.publish)


def may_subscribe(perms: SubjectPermissions, subject: str) -> bool:
    return any(subject_matches(p, subject) for p in perms.subscribe)


# ------------------------------------------------------------------------------------------------ rendering


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _conf_list(values: Iterable[str], indent: str) -> str:
    inner = "".join(f"{indent}  {_quote(v)}\n" for v in values)
    return f"[\n{inner}{indent}]"


def server_authorization(passwords: Mapping[str, str] | None = None) -> str:
    """A nats-server `authorization { users = [...] }` block for every Arks user and the admin.

    With `passwords` (user -> password) the passwords are written in; without, each is a variable reference
    (`$ARKS_NATS_PASSWORD_PLANNER`) that nats-server resolves from its environment, so the file holds no secret.
    """

    def password(user: str) -> str:
        return _quote(passwords[user]) if passwords is not None else f"${password_variable(user)}"

    pad = " " * 8
    lines = ["authorization {", "  users = ["]
    for perms in all_permissions():
        publish = f"allow: {_conf_list(perms.publish, pad)}" if perms.publish else 'deny: [">"]'
        lines += [
            "    {",
            f"      user: {_quote(perms.user)}",
            f"      password: {password(perms.user)}",
            "      permissions: {",
            f"        publish: {{ {publish} }}",
            f"        subscribe: {{ allow: {_conf_list(perms.subscribe, pad)} }}",
            "      }",
            "    },",
        ]
    lines += ["    {", f"      user: {_quote(ADMIN_USER)}", f"      password: {password(ADMIN_USER)}", "    }"]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def nats_chart_values(secret_name: str = SECRET_NAME) -> dict[str, Any]:
    """Values for the official NATS Helm chart (nats-io/k8s `nats`; checked by rendering chart 2.14.2): JetStream
    on, and our users with their permissions; each password comes from `secret_name` through an environment
    variable (`<< $VAR >>` is the chart's syntax for an unquoted variable reference in `config.merge`)."""

    def user_entry(perms: SubjectPermissions | None, user: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"user": user, "password": f"<< ${password_variable(user)} >>"}
        if perms is not None:
            entry["permissions"] = {
                "publish": {"allow": list(perms.publish)} if perms.publish else {"deny": [">"]},
                "subscribe": {"allow": list(perms.subscribe)},
            }
        return entry

    users = [user_entry(p, p.user) for p in all_permissions()] + [user_entry(None, ADMIN_USER)]
    env = {
        password_variable(user): {"valueFrom": {"secretKeyRef": {"name": secret_name, "key": secret_key(user)}}}
        for user in all_users()
    }
    return {
        "config": {
            "jetstream": {"enabled": True, "fileStore": {"pvc": {"size": "10Gi"}}},
            "merge": {"authorization": {"users": users}},
        },
        "container": {"env": env},
    }
