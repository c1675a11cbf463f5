"""Two replicas of the planner share the bus's partitions through Leases on the real API server and a real
nats-server: each holds and handles a disjoint half; SIGKILL one and the other takes its partitions over within
the lease time; every application converges, and no object's messages were ever handled by both replicas at once
or out of order (read from each replica's own "message handled" log lines). Two deployers: an object deleted by hand
is restored by the holder of its application's partition only."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from arks_common.events.partitions import DEFAULT_PARTITIONS, partition_of
from arks_common.sharing.owner import LABEL_ROLE, LABEL_SERVICE, ROLE_MEMBER, ROLE_PARTITION
from support.arks_system import ServiceProcess
from support.auth import NAMESPACE
from support.builders import rwx_model
from support.convergence import assert_all_running_exactly_once, assert_deletion_leaves_nothing, cpu_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster

LEASE_SECONDS = 15.0  # the services' default (ARKS_PARTITION_LEASE_SECONDS)
ROUND_SECONDS = LEASE_SECONDS / 3  # how often a replica reads the Leases and renews its membership


@dataclass(frozen=True)
class Handled:
    replica: str
    subject: str
    partition: int
    sequence: int
    attempt: int
    started: float
    finished: float


class Replica:
    """A planner process whose log is read from where this test started it."""

    def __init__(self, process: ServiceProcess, label: str) -> None:
        self.process = process
        self.label = label
        self.offset = process.log_file.stat().st_size if process.log_file.exists() else 0

    def holds(self, leases: dict[int, str]) -> set[int]:
        """The partitions whose Lease names this process (its identity is `<host>-<pid>-<random>`)."""
        return {p for p, holder in leases.items() if holder.rsplit("-", 2)[-2] == str(self.process.pid)}

    def taken_after(self, since: float) -> dict[int, float]:
        """Partition -> when this replica logged taking it (wall clock), for those taken after `since`."""
        taken = {}
        for rec in self.records('"partition taken"'):
            at = datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).timestamp()
            if at > since:
                taken[rec["partition"]] = at
        return taken

    def records(self, marker: str) -> list[dict[str, Any]]:
        with self.process.log_file.open(errors="replace") as log:
            log.seek(self.offset)
            return [json.loads(line) for line in log if marker in line]

    def handled(self) -> list[Handled]:
        return [
            Handled(
                self.label,
                rec["subject"],
                rec["partition"],
                rec["stream_sequence"],
                rec["attempt"],
                rec["started"],
                rec["finished"],
            )
            for rec in self.records('"message handled"')
        ]


def partition_holders(arks: Env, service: str = "planner") -> dict[int, str]:
    """Partition -> holder, for every partition Lease of the service whose holder's membership Lease is live (the
    Leases' own rule, sharing.share)."""
    now = time.time()
    leases = arks.items("leases", NAMESPACE, f"{LABEL_SERVICE}={service}")
    live = set()
    for lease in leases:
        spec = lease.get("spec") or {}
        # a released Lease keeps its renewTime but names no holder: it counts for no one
        if (
            lease["metadata"]["labels"].get(LABEL_ROLE) == ROLE_MEMBER
            and spec.get("renewTime")
            and spec.get("holderIdentity")
        ):
            renewed = datetime.fromisoformat(spec["renewTime"].replace("Z", "+00:00")).timestamp()
            if renewed + float(spec["leaseDurationSeconds"]) >= now:
                live.add(spec.get("holderIdentity"))
    return {
        int(lease["metadata"]["name"].rsplit("-", 1)[1]): str((lease.get("spec") or {}).get("holderIdentity"))
        for lease in leases
        if lease["metadata"]["labels"].get(LABEL_ROLE) == ROLE_PARTITION
        and (lease.get("spec") or {}).get("holderIdentity") in live
    }


def two_replicas(arks: Env, tmp_path: Path, service: str) -> Iterator[tuple[Replica, Replica]]:
    """The session's service restarted with debug logs, and a second one like it (a Deployment of 2); the
    session's service is put back as it was afterwards."""
    first = arks.system[service]
    original = dict(first.env)
    first.stop()
    first.env["ARKS_LOG_LEVEL"] = "DEBUG"
    (tmp_path / "second").mkdir()
    second = ServiceProcess(service, first.env, tmp_path / "second")
    try:
        a = Replica(first, "first")
        first.start()
        b = Replica(second, "second")
        second.start()
        yield a, b
    finally:
        second.stop()
        first.stop()
        first.env.clear()
        first.env.update(original)
        first.start()


@pytest.fixture
def two_planners(arks: Env, tmp_path: Path) -> Iterator[tuple[Replica, Replica]]:
    yield from two_replicas(arks, tmp_path, "planner")


@pytest.fixture
def two_deployers(arks: Env, tmp_path: Path) -> Iterator[tuple[Replica, Replica]]:
    yield from two_replicas(arks, tmp_path, "deployer")


def test_two_planners_share_the_partitions_and_one_killed_hands_them_over(
    arks: Env, ns: str, two_planners: tuple[Replica, Replica]
) -> None:
    a, b = two_planners
    arks.ready_model(ns, rwx_model())
    half = DEFAULT_PARTITIONS // 2

    def balanced() -> dict[int, str] | None:
        leases = partition_holders(arks)
        return leases if len(leases) == DEFAULT_PARTITIONS and len(a.holds(leases)) == len(b.holds(leases)) else None

    leases = wait_until(balanced, 4 * LEASE_SECONDS, "the 8 partitions shared 4 and 4 between the two planners")
    balanced_at = time.time()  # before it, the first planner held all 8 until the second one came
    share_a, share_b = a.holds(leases), b.holds(leases)
    assert len(share_a) == len(share_b) == half
    assert not share_a & share_b

    for i in range(30):
        arks.apply(ns, cpu_app(f"part-{i:02d}"))
    assert_all_running_exactly_once(arks, ns, 30, 240)
    before = {r.label: [h for h in r.handled() if h.started >= balanced_at] for r in (a, b)}
    # each replica handled messages, only of its own partitions: disjoint shares of the work
    assert {h.partition for h in before["first"]} <= share_a, "the first planner handled a partition it did not hold"
    assert {h.partition for h in before["second"]} <= share_b, "the second planner handled a partition it did not hold"
    assert before["first"], "the first planner handled nothing"
    assert before["second"], "the second planner handled nothing"

    killed_at = time.time()
    b.process.kill9()
    for i in range(30, 60):  # these arrive while the killed replica's partitions still wait for its Leases to run out
        arks.apply(ns, cpu_app(f"part-{i:02d}"))
    wait_until(
        lambda: a.holds(partition_holders(arks)) == set(range(DEFAULT_PARTITIONS)),
        LEASE_SECONDS + ROUND_SECONDS + 10,
        "the surviving planner holding every partition",
    )
    # when the survivor took each one, by its own log: the lease time, then at most one round (and its latency)
    taken = a.taken_after(killed_at)
    assert set(taken) == share_b, taken
    took = max(taken.values()) - killed_at
    assert took <= LEASE_SECONDS + ROUND_SECONDS + 2, f"takeover took {took:.1f}s"
    assert_all_running_exactly_once(arks, ns, 60, 240)

    after_kill = [h for h in a.handled() if h.partition in share_b and h.started > before_last(before)]
    assert after_kill, "nobody handled the killed replica's partitions after it died"
    check_one_at_a_time_and_in_order([*a.handled(), *b.handled()])
    assert_deletion_leaves_nothing(arks, ns)


def before_last(handled: dict[str, list[Handled]]) -> float:
    return max(h.finished for hs in handled.values() for h in hs)


def check_one_at_a_time_and_in_order(handled: list[Handled]) -> None:
    """Per object (subject): no two replicas' handlings overlap in time, and first deliveries were handled in the
    order the stream holds them (a redelivery, after a kill or a retry, may come after a later message: the
    handlers are level-triggered and drop an older state)."""
    by_subject: defaultdict[str, list[Handled]] = defaultdict(list)
    for h in handled:
        by_subject[h.subject].append(h)
    assert len(by_subject) > 30, f"too few objects handled to show anything: {len(by_subject)}"
    for subject, hs in by_subject.items():
        hs.sort(key=lambda h: h.started)
        for x, y in itertools.pairwise(hs):
            if x.replica != y.replica:
                assert x.finished <= y.started, f"{subject}: handled by both replicas at once: {x} {y}"
        firsts = [h.sequence for h in hs if h.attempt == 1]
        assert firsts == sorted(firsts), f"{subject}: handled out of order across replicas: {firsts}"


def test_a_service_deleted_by_hand_is_made_again_by_the_deployer_holding_its_partition_only(
    arks: Env, ns: str, two_deployers: tuple[Replica, Replica]
) -> None:
    """Every deployer replica's watch sees a Service deleted by hand; only the holder of the application's
    partition may reconcile it (two at once would break the one-replica-per-object order)."""
    a, b = two_deployers
    arks.ready_model(ns, rwx_model())

    def balanced() -> dict[int, str] | None:
        leases = partition_holders(arks, "deployer")
        return leases if len(leases) == DEFAULT_PARTITIONS and len(a.holds(leases)) == len(b.holds(leases)) else None

    leases = wait_until(balanced, 4 * LEASE_SECONDS, "the 8 partitions shared 4 and 4 between the two deployers")
    names = [f"hand-{i}" for i in range(8)]
    for name in names:
        arks.apply(ns, cpu_app(name))
    assert_all_running_exactly_once(arks, ns, len(names), 240)
    uids = {name: arks.get("service", f"arks-application-{name}", ns)["metadata"]["uid"] for name in names}  # type: ignore[index]
    leases = partition_holders(arks, "deployer")
    assert len(leases) == DEFAULT_PARTITIONS, "a partition changed hands meanwhile: the owner below would be unsure"
    for name in names:
        arks.kubectl("delete", "service", f"arks-application-{name}", "-n", ns)

    def made_again() -> bool:
        services = {name: arks.get("service", f"arks-application-{name}", ns) for name in names}
        return all(svc is not None and svc["metadata"]["uid"] != uids[name] for name, svc in services.items())

    wait_until(made_again, 60, "every Service made again")
    restored = {
        r.label: {rec["application"] for rec in r.records('"restoring objects deleted by hand"')} for r in (a, b)
    }
    for name in names:
        key = f"{ns}/{name}"
        holder = "first" if partition_of(ns, name, DEFAULT_PARTITIONS) in a.holds(leases) else "second"
        assert {label for label, apps in restored.items() if key in apps} == {holder}, (key, holder, restored)
