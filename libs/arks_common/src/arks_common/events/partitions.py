"""How the bus splits the work among a service's replicas: P partitions of each partitioned stream.

The stream maps each published subject to a stored one with a partition token (a JetStream subject transform with
nats-server's `partition(P, tokens...)` function, a stable hash of the namespace and name), so publishers do not
know P. Each partition has its own durable consumer per consuming declaration (`<durable>-<p>`, its filters
narrowed to the partition), and one replica at a time holds it (`arks_common.partitions`). This module only
computes names and subjects; it must not connect to NATS or read the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from arks_common.events.contract import ROOT, Channel, ConsumerDecl, StreamDecl
from arks_common.events.tokens import encode_token

DEFAULT_PARTITIONS = 8
MAX_PARTITIONS = 16
"""The NATS permissions are generated for partitions 0..MAX_PARTITIONS-1 (a durable's name is one subject token,
so no wildcard can stand for "every partition"); a larger P needs this raised and `make gen`."""
KEY_PARAMS = ("namespace", "name")
"""The params hashed into the partition: an application, its plan, its scale decisions and its LeaderWorkerSet
(named after it) share a partition number."""


def check_partitions(partitions: int, field: str = "ARKS_BUS_PARTITIONS") -> int:
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"{field} must be between 1 and {MAX_PARTITIONS}, got {partitions}")
    return partitions


def subject_transform(channel: Channel, partitions: int) -> tuple[str, str] | None:
    """The stream's (source, destination) mapping that inserts the partition token; None for an unpartitioned
    channel. E.g. `arks.plan.*.*` -> `arks.plan.{{partition(8,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}`."""
    if channel.partition_at is None:
        return None
    check_partitions(partitions)
    source = ".".join([ROOT, channel.name, *("*" for _ in channel.params)])
    keys = ",".join(str(channel.params.index(p) + 1) for p in KEY_PARAMS)
    tokens = [f"{{{{wildcard({i + 1})}}}}" for i in range(len(channel.params))]
    tokens.insert(channel.partition_at, f"{{{{partition({partitions},{keys})}}}}")
    return source, ".".join([ROOT, channel.name, *tokens])


_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def partition_of(namespace: str, name: str, partitions: int) -> int:
    """The partition the stream's transform puts an object's subjects in: nats-server's `partition(P, ...)` is
    FNV-1a (32 bit) of the keyed tokens as published, joined with nothing, modulo P (nats-server v2.15.1
    `server/subject_transform.go`, `getHashPartition`). Lets a replica tell whether an object is its own without
    a message (a deletion only its watch saw)."""
    check_partitions(partitions)
    digest = _FNV32_OFFSET
    for byte in (encode_token(namespace) + encode_token(name)).encode():
        digest = ((digest ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return digest % partitions


def partitions_of_transform(stream: StreamDecl, destination: str | None) -> int | None:
    """The P a stored subject transform's destination partitions into; None when there is none (or not ours)."""
    if destination is None or stream.channel.partition_at is None:
        return None
    marker = "{{partition("
    start = destination.find(marker)
    if start < 0:
        return None
    count = destination[start + len(marker) :].split(",", 1)[0]
    return int(count) if count.isdigit() else None


def is_partitioned(decl: ConsumerDecl) -> bool:
    return decl.partitioned and decl.stream.channel.partition_at is not None


@dataclass(frozen=True)
class ConsumerInstance:
    """One durable consumer as declared on the bus: a declaration, for one partition or for all (None)."""

    decl: ConsumerDecl
    partition: int | None

    @property
    def durable(self) -> str:
        return self.decl.durable if self.partition is None else f"{self.decl.durable}-{self.partition}"

    @property
    def filter_subjects(self) -> tuple[str, ...]:
        if self.partition is None:
            return self.decl.filter_subjects
        return tuple(partition_filter(self.decl.stream.channel, f, self.partition) for f in self.decl.filter_subjects)


def partition_filter(channel: Channel, subject_filter: str, partition: int) -> str:
    """A declaration's filter narrowed to one partition: `arks.object.application.>` -> `arks.object.application.3.>`.
    The filter must fix exactly the params before the partition token and end in `>`."""
    parts = subject_filter.split(".")
    at = channel.partition_at
    if at is None or parts[:2] != [ROOT, channel.name] or parts[-1] != ">" or len(parts) != 3 + at:
        raise ValueError(f"filter {subject_filter!r} cannot be narrowed to a partition of {channel.address}")
    return ".".join([*parts[:-1], str(partition), ">"])


def instances(decl: ConsumerDecl, partitions: int) -> tuple[ConsumerInstance, ...]:
    """The durables a declaration needs on the bus: one per partition, or the one shared."""
    if not is_partitioned(decl):
        return (ConsumerInstance(decl, None),)
    return tuple(ConsumerInstance(decl, p) for p in range(check_partitions(partitions)))


def permitted_instances(decl: ConsumerDecl) -> tuple[ConsumerInstance, ...]:
    """Every durable any allowed P may use: what the NATS permissions are generated for."""
    return instances(decl, MAX_PARTITIONS)
