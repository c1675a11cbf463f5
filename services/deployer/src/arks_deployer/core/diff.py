"""Desired against live: which objects to create, update or scale, which to prune, and which names are held
by someone else. Pure.

Objects are keyed by (kind, name). Only objects whose controller reference is this application (its uid) are
updated or pruned; an object of the same name that belongs to anyone else is never touched, it is a conflict
the user must resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from arks_common.conventions import PLAN_HASH_ANNOTATION, is_owned_by
from arks_deployer.core.desired import LWS_KIND, Desired, name_of

Obj = dict[str, Any]
Key = tuple[str, str]


class Verb(StrEnum):
    CREATED = "Created"
    UPDATED = "Updated"
    SCALED = "Scaled"


@dataclass(frozen=True)
class Change:
    verb: Verb
    desired: Desired

    @property
    def what(self) -> str:
        return f"{self.desired.object['kind']} {name_of(self.desired.object)}"


@dataclass(frozen=True)
class Diff:
    changes: list[Change] = field(default_factory=list)
    prune: list[Key] = field(default_factory=list)
    held_by_others: list[Key] = field(default_factory=list)
    """Desired names taken by an object this application does not control."""
    going: list[Key] = field(default_factory=list)
    """Desired names whose old object is still being deleted: wait, then create."""


def key_of(obj: Obj) -> Key:
    return str(obj.get("kind", "")), name_of(obj)


def plan_hash_of(obj: Obj | None) -> str:
    return str((((obj or {}).get("metadata") or {}).get("annotations") or {}).get(PLAN_HASH_ANNOTATION, ""))


def live_replicas(obj: Obj | None) -> int | None:
    value = ((obj or {}).get("spec") or {}).get("replicas")
    return value if isinstance(value, int) else None


def diff(desired: list[Desired], live: list[Obj], uid: str) -> Diff:
    by_key = {key_of(o): o for o in live}
    wanted = {key_of(d.object) for d in desired}
    out = Diff()
    for want in desired:
        key = key_of(want.object)
        have = by_key.get(key)
        if have is None:
            out.changes.append(Change(Verb.CREATED, want))
        elif (have.get("metadata") or {}).get("deletionTimestamp"):
            out.going.append(key)
        elif not is_owned_by(have, uid):
            out.held_by_others.append(key)
        elif plan_hash_of(have) != plan_hash_of(want.object):
            out.changes.append(Change(Verb.UPDATED, want))
        elif want.object.get("kind") == LWS_KIND and live_replicas(have) != want.replicas:
            out.changes.append(Change(Verb.SCALED, want))
    for key, have in by_key.items():
        deleting = (have.get("metadata") or {}).get("deletionTimestamp")
        if key not in wanted and is_owned_by(have, uid) and not deleting:
            out.prune.append(key)
    return out


def waits_for_model(changes: Diff, loaded: Obj, generation: int) -> bool:
    """Whether the newest plan's objects wait for its model: they create a LeaderWorkerSet or change its pod
    templates (pods that mount the model, perhaps another one) while the `Loaded` condition does not say the model
    of this very generation is loaded (an older generation's may be another model's). Applied meanwhile, a running
    application's groups would roll onto a volume without its model and stop serving. A change of the replica count
    alone does not wait: the groups it adds run the template the others run."""
    current = loaded.get("status") == "True" and int(loaded.get("observedGeneration") or 0) >= generation
    templates = any(c.verb is not Verb.SCALED and c.desired.object.get("kind") == LWS_KIND for c in changes.changes)
    return templates and not current


def held_scales(changes: Diff, live: list[Obj]) -> list[tuple[Key, int]]:
    """While the newest plan's templates wait for its model (`waits_for_model`), the replica counts it asks of sets
    that exist: applied alone, the groups they add run the template the others run (the model they have). A plan's
    hash covers every object, so any edit marks each set `Updated`; without this, a scale or an autoscaler's decision
    waited for the whole download."""
    by_key = {key_of(o): o for o in live}
    out: list[tuple[Key, int]] = []
    for change in changes.changes:
        want = change.desired
        have = by_key.get(key_of(want.object))
        if want.object.get("kind") != LWS_KIND or have is None or want.replicas is None:
            continue
        if change.verb is not Verb.CREATED and live_replicas(have) != want.replicas:
            out.append((key_of(want.object), want.replicas))
    return out


BESIDE_SETS = frozenset({"Service", "ServiceAccount", "Role", "RoleBinding"})
"""What may be made while the sets' new templates wait for their model: none of them runs a pod."""
ACCOUNT_KINDS = frozenset({"ServiceAccount", "Role", "RoleBinding"})


def created_beside_sets(changes: Diff) -> Diff:
    """While the newest plan's templates wait for its model (`waits_for_model`), what may still be made: a missing
    Service or PD router account (deleted by hand, or new in the plan), as the plan has it; none runs a pod on the
    model, and without the Service the groups that keep serving would have none until the download ends. Not the
    Service when the plan changes which sets there are (an edit between PD and aggregated): its selector would pick
    the sets' pods of the other shape (a PD router's Service picking no running pod; an aggregated one picking the
    prefill and decode engines). Nothing is updated or pruned: that waits with the sets."""
    sets_change = any(
        c.verb is Verb.CREATED and c.desired.object.get("kind") == LWS_KIND for c in changes.changes
    ) or any(kind == LWS_KIND for kind, _ in changes.prune)
    allowed = ACCOUNT_KINDS if sets_change else BESIDE_SETS
    created = [c for c in changes.changes if c.verb is Verb.CREATED and c.desired.object.get("kind") in allowed]
    return Diff(changes=created, held_by_others=changes.held_by_others)
