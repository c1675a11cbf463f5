"""Who owns which partition (`sharing.share.plan_moves`): table cases, then whole sequences of replicas joining
and dying, in which no partition ever has two live holders and every partition ends up held. Times are the
reader's monotonic clock: a membership Lease is live while the reader has seen it change within its duration."""

from __future__ import annotations

import pytest

from arks_common.sharing.share import LeaseView, Moves, fair_share, free_slot, observe, plan_moves

NOW = 1000.0
D = 15.0
SLOTS = 16


def held(holder: str | None, ago: float = 1.0) -> LeaseView:
    """A membership Lease the reader has seen unchanged for `ago` seconds."""
    return LeaseView(holder, D, f"{holder}-renewal", NOW - ago)


def members(*names: str, ago: float = 1.0, first_slot: int = 0) -> dict[int, LeaseView]:
    return {first_slot + i: held(n, ago) for i, n in enumerate(names)}


@pytest.mark.parametrize(
    ("case", "holders", "live", "want"),
    [
        ("alone on an empty bus: take all 8", {}, members("me"), Moves((), tuple(range(8)), ())),
        (
            "alone, holding all: keep all",
            dict.fromkeys(range(8), "me"),
            members("me"),
            Moves(tuple(range(8)), (), ()),
        ),
        (
            "a second replica joined: give back the half beyond ceil(8/2)",
            dict.fromkeys(range(8), "me"),
            members("me", "b"),
            Moves((0, 1, 2, 3), (), (4, 5, 6, 7)),
        ),
        (
            "the newcomer takes nothing held by a live replica",
            dict.fromkeys(range(8), "a"),
            members("me", "a"),
            Moves((), (), ()),
        ),
        (
            "the newcomer takes what was given back (released), up to its share",
            {**dict.fromkeys(range(4), "a"), **dict.fromkeys(range(4, 8))},
            members("me", "a"),
            Moves((), (4, 5, 6, 7), ()),
        ),
        (
            "a holder whose membership ran out (seen unrenewed for its duration): its partitions are free",
            {**dict.fromkeys(range(4), "me"), **dict.fromkeys(range(4, 8), "dead")},
            members("me") | members("dead", ago=D + 1, first_slot=1),
            Moves((0, 1, 2, 3), (4, 5, 6, 7), ()),
        ),
        (
            "a holder with no membership Lease at all: its partitions are free",
            dict.fromkeys(range(8), "vanished"),
            members("me"),
            Moves((), tuple(range(8)), ()),
        ),
        ("three replicas, 8 partitions: at most 3 each", {}, members("me", "a", "b"), Moves((), (1, 2, 3), ())),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_plan_moves(case: str, holders: dict[int, str | None], live: dict[int, LeaseView], want: Moves) -> None:
    got = plan_moves("me", 8, holders, live, NOW)
    if case.startswith("three"):  # which free ones depends on where "me" starts in the ring; how many does not
        assert (got.keep, got.give, len(got.take)) == ((), (), 3)
        return
    assert got == want


def test_fair_share_never_leaves_a_partition_unowned() -> None:
    for partitions in range(1, 17):
        for replicas in range(1, 20):
            assert fair_share(partitions, replicas) * replicas >= partitions


class Cluster:
    """Leases as the API server holds them, with replicas taking turns (each turn = one round of one replica)."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.holders: dict[int, str | None] = {}
        self.members: dict[int, LeaseView] = {}
        self.now = NOW

    def slot_of(self, me: str) -> int | None:
        return next((s for s, v in self.members.items() if v.holder == me), None)

    def round(self, me: str) -> None:
        slot = free_slot(me, SLOTS, self.members, self.now)
        if slot is None:
            return  # standing by
        moves = plan_moves(me, self.partitions, self.holders, self.members, self.now)
        self.members[slot] = LeaseView(me, D, f"{me}@{self.now}", self.now)
        for p in moves.give:
            self.holders[p] = None
        for p in moves.take:
            holder = self.holders.get(p)
            # what the round saw as free: never a partition of a replica whose membership is live
            holder_slot = None if holder is None else self.slot_of(holder)
            assert holder_slot is None or not self.members[holder_slot].live(self.now), (me, p, holder)
            self.holders[p] = me

    def held_by(self, me: str) -> set[int]:
        slot = self.slot_of(me)
        live = slot is not None and self.members[slot].live(self.now)
        return {p for p, holder in self.holders.items() if holder == me and live}

    def tick(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("partitions", [1, 5, 8, 16])
def test_replicas_join_die_and_the_partitions_stay_shared_disjointly_and_all_held(partitions: int) -> None:
    c = Cluster(partitions)
    alive = ["a"]
    for _ in range(2):
        c.round("a")
    assert c.held_by("a") == set(range(partitions))
    alive.append("b")
    for _ in range(3):  # a gives back beyond its share, b takes the released ones
        for r in alive:
            c.round(r)
        c.tick(D / 3)
    a, b = c.held_by("a"), c.held_by("b")
    assert not a & b
    assert a | b == set(range(partitions))
    assert max(len(a), len(b)) <= fair_share(partitions, 2)
    # b dies (SIGKILL: its Leases stay, unrenewed): after the lease duration a takes them all
    alive.remove("b")
    for _ in range(5):
        c.round("a")
        c.tick(D / 3)
    assert c.held_by("a") == set(range(partitions))
    # three replicas: everything held, nothing twice, nobody above ceil(P/3)
    alive += ["c", "d"]
    for _ in range(4):
        for r in alive:
            c.round(r)
        c.tick(D / 3)
    shares = [c.held_by(r) for r in alive]
    assert set().union(*shares) == set(range(partitions))
    assert sum(len(s) for s in shares) == partitions
    assert all(len(s) <= fair_share(partitions, 3) for s in shares)


def test_a_membership_slot_is_mine_else_the_first_free_else_none() -> None:
    assert free_slot("me", 4, members("a", "me"), NOW) == 1
    assert free_slot("me", 4, members("a", "b", "c", "d"), NOW) is None  # all live: stand by
    assert free_slot("me", 4, members("a", "b", "c") | members("dead", ago=D + 1, first_slot=3), NOW) == 3
    assert free_slot("me", 4, members("a", "b"), NOW) in (2, 3)


def test_more_replicas_than_slots_stand_by_and_one_takes_over_a_dead_replicas_slot() -> None:
    c = Cluster(8)
    replicas = [f"r{i}" for i in range(SLOTS + 2)]
    for _ in range(3):
        for r in replicas:
            c.round(r)
        c.tick(D / 3)
    standing_by = [r for r in replicas if c.slot_of(r) is None]
    assert len(standing_by) == 2
    assert set().union(*(c.held_by(r) for r in replicas)) == set(range(8))
    dead = next(r for r in replicas if c.slot_of(r) is not None)
    for _ in range(5):
        for r in replicas:
            if r != dead:
                c.round(r)
        c.tick(D / 3)
    assert sum(c.slot_of(r) is None for r in replicas if r != dead) == 1  # one of the two took the dead one's slot
    assert set().union(*(c.held_by(r) for r in replicas if r != dead)) == set(range(8))


def test_a_membership_is_timed_from_when_this_replica_saw_it_change_not_from_its_renew_time() -> None:
    """A replica just started has never seen the dead holder's membership change: it counts it live for a whole
    duration from its first read, then takes its partitions; a renewal seen meanwhile starts the count again."""
    dead = dict.fromkeys(range(8), "dead")
    first = observe(None, LeaseView("dead", D, "rv-7", NOW))
    assert plan_moves("me", 8, dead, {0: first}, NOW).take == ()
    later = observe(first, LeaseView("dead", D, "rv-7", NOW + D - 0.1))
    assert later.since == NOW
    assert plan_moves("me", 8, dead, {0: later}, NOW + D - 0.1).take == ()
    assert plan_moves("me", 8, dead, {0: later}, NOW + D).take == tuple(range(8))
    renewed = observe(later, LeaseView("dead", D, "rv-8", NOW + D - 0.1))
    assert renewed.since == NOW + D - 0.1
    assert plan_moves("me", 8, dead, {0: renewed}, NOW + D).take == ()


def test_a_released_membership_frees_its_slot_at_once() -> None:
    released = observe(None, LeaseView(None, D, "rv-9", NOW))
    assert free_slot("me", 1, {0: released}, NOW) == 0
