"""Which kinds the watcher follows, and which of their objects belong to Arks. Pure data."""

from __future__ import annotations

from dataclasses import dataclass

from arks_common.events.payloads import ObjectKind
from arks_common.kube.resources import (
    APPLICATIONS,
    ENDPOINTS,
    JOBS,
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    LEADERWORKERSETS,
    MANAGED_BY,
    MODELS,
    PVCS,
    Resource,
)


@dataclass(frozen=True)
class Watched:
    kind: ObjectKind
    resource: Resource
    label_selector: str | None = None


WATCHED: dict[ObjectKind, Watched] = {
    w.kind: w
    for w in (
        Watched(ObjectKind.APPLICATION, APPLICATIONS),
        Watched(ObjectKind.MODEL, MODELS),
        Watched(ObjectKind.LEADERWORKERSET, LEADERWORKERSETS, f"{LABEL_MANAGED_BY}={MANAGED_BY}"),
        Watched(ObjectKind.JOB, JOBS, LABEL_MODEL),
        Watched(ObjectKind.PVC, PVCS, LABEL_MODEL),
        Watched(ObjectKind.ENDPOINT, ENDPOINTS),
    )
}


def parse_kinds(spec: str) -> list[Watched]:
    """`application,model` -> their Watched entries, each once (two followers of a kind would publish each change
    twice); ValueError naming an unknown kind."""
    out: list[Watched] = []
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        try:
            watched = WATCHED[ObjectKind(name)]
        except (ValueError, KeyError) as exc:
            raise ValueError(f"unknown kind {name[:64]!r}; known: {', '.join(WATCHED)}") from exc
        if watched not in out:
            out.append(watched)
    return out
