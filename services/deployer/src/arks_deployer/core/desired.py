"""What the deployer wants the cluster to hold for a plan: the plan's objects, each LeaderWorkerSet at its
role's replica count. Pure.

The plan carries no replica counts: a role's count has one writer, read here from the application itself —
the field the plan names (`spec.replicas` for `serve`), or, for an autoscaled role while its autoscaling is on,
the slo-scaler's decision in the status (`status.autoscaling.desiredReplicas`; a PD role's in
`status.autoscaling.<role>.desiredReplicas`), within the role's autoscaling bounds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from arks_common.conventions import LABEL_APPLICATION, LABEL_COMPONENT, is_owned_by
from arks_common.events.payloads import PlannedRole, PlanReady
from arks_common.kube.resources import OWNED_KINDS

LWS_KIND = "LeaderWorkerSet"
Obj = dict[str, Any]


class BadPlan(ValueError):
    """The plan names something the deployer cannot use or must not touch: a replica field that is not a
    count, a kind it does not apply, an object outside the application's namespace or not owned by it."""


@dataclass(frozen=True)
class Desired:
    role: str
    object: Obj
    replicas: int | None  # a LeaderWorkerSet's groups; None for other kinds


def pointer_value(doc: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON pointer, or None when the path does not exist."""
    if not pointer.startswith("/"):
        return None
    for token in pointer[1:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict):
            doc = doc.get(key)
        elif isinstance(doc, list) and key.isdigit() and int(key) < len(doc):
            doc = doc[int(key)]
        else:
            return None
    return doc


def _count(value: Any) -> int | None:
    """A replica count: a non-negative integer, or its decimal text (an annotation can only hold text)."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 6:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def role_replicas(app: Obj, role: PlannedRole) -> int:
    """The replica groups `role` should have now."""
    spec_value = pointer_value(app, role.replicas_from)
    wanted = _count(spec_value) if spec_value is not None else 1  # an absent field takes the CRD's default
    if wanted is None:
        raise BadPlan(f"role {role.name}: {role.replicas_from} is {str(spec_value)[:40]!r}, not a replica count")
    scaling = pointer_value(app, role.autoscaling_from)
    if not (role.autoscaled and isinstance(scaling, dict)):
        return wanted
    decided = _count(pointer_value(app, role.decision_from))
    low = _count(scaling.get("minReplicas"))
    high = _count(scaling.get("maxReplicas"))
    value = decided if decided is not None else wanted
    if high is not None:
        value = min(value, high)
    return max(value, low if low is not None else 1)


def desired_objects(app: Obj, plan: PlanReady, kinds: frozenset[str] = frozenset(OWNED_KINDS)) -> list[Desired]:
    """The plan's objects with each LeaderWorkerSet's `spec.replicas` set for its role; `kinds` are those the
    deployer can apply (a plan from a newer planner may name others)."""
    counts = {role.name: role_replicas(app, role) for role in plan.roles}
    out = []
    for raw in plan.objects:
        if raw.get("kind") not in kinds:
            raise BadPlan(f"the plan holds a {str(raw.get('kind'))[:60]!r}; this deployer applies {sorted(kinds)}")
        _confined(app, raw)
        obj = copy.deepcopy(raw)
        role = role_of(obj)
        replicas = None
        if obj.get("kind") == LWS_KIND:
            if role not in counts:
                raise BadPlan(f"{LWS_KIND} {name_of(obj)} has role {role!r}, which the plan does not list")
            replicas = counts[role]
            obj.setdefault("spec", {})["replicas"] = replicas
        out.append(Desired(role=role, object=obj, replicas=replicas))
    return out


def _confined(app: Obj, obj: Obj) -> None:
    """A plan may only name objects of its own application: in its namespace, carrying its label and owned
    by it. The deployer's role reaches every namespace; a wrong or injected plan must not."""
    meta, app_meta = obj.get("metadata") or {}, app.get("metadata") or {}
    what = f"{str(obj.get('kind'))[:60]} {str(meta.get('name'))[:80]!r}"
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        raise BadPlan(f"the plan holds a {str(obj.get('kind'))[:60]} without a name")
    if meta.get("namespace") != app_meta.get("namespace"):
        raise BadPlan(f"{what} is in namespace {str(meta.get('namespace'))[:80]!r}, not the application's")
    if (meta.get("labels") or {}).get(LABEL_APPLICATION) != app_meta.get("name"):
        raise BadPlan(f"{what} does not carry the label {LABEL_APPLICATION}={app_meta.get('name')}")
    if not is_owned_by(obj, str(app_meta.get("uid", ""))):
        raise BadPlan(f"{what} is not owned by the application (uid {app_meta.get('uid')})")


def role_of(obj: Obj) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_COMPONENT, ""))


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))
