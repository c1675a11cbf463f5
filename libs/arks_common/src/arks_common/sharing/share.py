"""Who should own which partition: a pure function of the Leases as read and the time.

Each replica holds and renews one membership Lease (a slot among a fixed set of names, so RBAC can name every
Lease a service may touch); a partition's Lease names its holder, and holds while the holder's
membership Lease is live, so a replica renews one Lease however many partitions it holds (partition Leases are
written only when they change hands). A replica takes at most its fair share, ceil(P / live members): it keeps
the partitions it holds up to that share, gives back the rest (after it stopped consuming them), and takes free
ones (never held, released, or held by a replica whose membership ran out) up to its share. Two replicas reaching
for one free partition both try; the Lease's resourceVersion lets only one win. No I/O here.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    renewed: datetime | None
    duration_seconds: float

    def live(self, now: datetime) -> bool:
        return bool(self.holder) and self.renewed is not None and now <= self.expiry()

    def expiry(self) -> datetime:
        assert self.renewed is not None
        return self.renewed + timedelta(seconds=self.duration_seconds)


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


def free_slot(me: str, slots: int, members: Mapping[int, LeaseView], now: datetime) -> int | None:
    """The membership slot to renew: mine, else the first one nobody live holds (None: all taken, stand by)."""
    for slot, view in members.items():
        if view.holder == me:
            return slot
    start = zlib.crc32(me.encode()) % max(1, slots)  # newcomers rarely reach for the same one
    ring = sorted(range(slots), key=lambda s: (s - start) % slots)
    return next((s for s in ring if s not in members or not members[s].live(now)), None)


def live_members(me: str, members: Mapping[int, LeaseView], now: datetime) -> set[str]:
    """Replicas with a live membership Lease, me included whether or not mine is written yet."""
    return {v.holder for v in members.values() if v.holder and v.live(now)} | {me}


def plan_moves(
    me: str, partitions: int, holders: Mapping[int, str | None], members: Mapping[int, LeaseView], now: datetime
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
