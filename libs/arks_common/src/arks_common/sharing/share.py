"""Who should own which partition: a pure function of the Leases as read and the time.

Each replica holds and renews one membership Lease (a slot among a fixed set of names, so RBAC can name every
Lease a service may touch); a partition's Lease names its holder, and holds while the holder's
membership Lease is live, so a replica renews one Lease however many partitions it holds (partition Leases are
written only when they change hands). A replica takes at most its fair share, ceil(P / live members): it keeps
the partitions it holds up to that share, gives back the rest (after it stopped consuming them), and takes free
ones (never held, released, or held by a replica whose membership ran out) up to its share. Two replicas reaching
for one free partition both try; the Lease's resourceVersion lets only one win.

A Lease held by another replica is judged by the reader's own monotonic clock, never by its `renewTime` (another
machine's wall clock): it is live until the reader has seen it unchanged for its duration (`observe`), so
replicas whose wall clocks differ never both hold it. No I/O here, and no clock: the shell passes the times in.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LeaseView:
    """A Lease as this replica read it, and since when it has read it unchanged."""

    holder: str | None
    duration_seconds: float
    mark: str
    """Changes with every write of the Lease (its resourceVersion and renewTime): a holder's renewal changes it."""
    since: float
    """The reader's monotonic time when it first read the Lease as it is now."""

    def live(self, now: float) -> bool:
        """Held, and changed within its duration by the reader's clock: a holder's renewals keep it live, and a
        Lease first seen just now counts as renewed just now, whatever its renewTime says."""
        return bool(self.holder) and now - self.since < self.duration_seconds

    def same_as(self, other: LeaseView) -> bool:
        return (self.holder, self.duration_seconds, self.mark) == (other.holder, other.duration_seconds, other.mark)


def observe(before: LeaseView | None, read: LeaseView) -> LeaseView:
    """`read` (stamped with the time of this read) as this replica sees it: unchanged since an earlier read, it keeps
    that read's time, so a Lease nobody renews runs out after its duration of the reader's own time."""
    return before if before is not None and before.same_as(read) else read


@dataclass(frozen=True)
class Moves:
    keep: tuple[int, ...]
    """Held by me and within my share: go on consuming."""
    take: tuple[int, ...]
    """Free: try to acquire."""
    give: tuple[int, ...]
    """Held by me beyond my share: stop consuming, then release."""


def fair_share(partitions: int, members: int) -> int:
    return -(-partitions // max(1, members))


def free_slot(me: str, slots: int, members: Mapping[int, LeaseView], now: float) -> int | None:
    """The membership slot to renew: mine, else the first one nobody live holds (None: all taken, stand by)."""
    for slot, view in members.items():
        if view.holder == me:
            return slot
    start = zlib.crc32(me.encode()) % max(1, slots)  # newcomers rarely reach for the same one
    ring = sorted(range(slots), key=lambda s: (s - start) % slots)
    return next((s for s in ring if s not in members or not members[s].live(now)), None)


def live_members(me: str, members: Mapping[int, LeaseView], now: float) -> set[str]:
    """Replicas with a live membership Lease, me included whether or not mine is written yet."""
    return {v.holder for v in members.values() if v.holder and v.live(now)} | {me}


def plan_moves(
    me: str, partitions: int, holders: Mapping[int, str | None], members: Mapping[int, LeaseView], now: float
) -> Moves:
    """`holders`: each partition Lease's holder (absent: no Lease yet); `members`: the membership Leases by slot.
    Only a replica holding a membership slot may call this: the others count it, and would see its partitions as
    free otherwise."""
    live = live_members(me, members, now)
    share = fair_share(partitions, len(live))
    mine = sorted(p for p in range(partitions) if holders.get(p) == me)
    keep, give = mine[:share], mine[share:]
    free = [p for p in range(partitions) if holders.get(p) not in live]
    # each replica starts looking at its own place in the ring: two newcomers rarely reach for the same one
    offset = zlib.crc32(me.encode()) % max(1, partitions)
    free.sort(key=lambda p: (p - offset) % partitions)
    take = sorted(free[: max(0, share - len(keep))])
    return Moves(tuple(keep), tuple(take), tuple(give))
