"""Which stored plans a sweep removes: those of objects the API server no longer has, and, on the schedule, only
those of the partitions this replica holds (each partition's holder sweeps its own, so two replicas never purge
the same subject). Pure: it must not read the bus or the API server."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from arks_common.events.partitions import partition_of

Key = tuple[str, str]
"""(namespace, name) of an application or an ArksEndpoint, as its plan's subject names it."""


def orphans(stored: Iterable[Key], live: Iterable[Key], owned: Collection[int] | None, partitions: int) -> list[Key]:
    """The keys of `stored` not in `live`, in order; with `owned`, only those whose partition (where the stream's
    transform stores their plan, `partition_of`) is among it; None: all of them (the start-up sweep)."""
    gone = set(stored).difference(live)
    if owned is not None:
        gone = {key for key in gone if partition_of(*key, partitions) in owned}
    return sorted(gone)
