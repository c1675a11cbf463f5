"""What the deployer writes for a plan: the plan's objects with owner references, the plan hash, and the
replica count from its single writer (spec.replicas, or the slo-scaler when autoscaling is on). Pure."""

from __future__ import annotations

import copy
from typing import Any

from arks_common.api.application import ArksApplicationSpec
from arks_common.events.payloads import PlanReady, ScaleDecision

PLAN_HASH_ANNOTATION = "arks.ai/plan-hash"
LWS_KIND = "LeaderWorkerSet"


def owner_reference(app: dict[str, Any]) -> dict[str, Any]:
    meta = app["metadata"]
    return {
        "apiVersion": app.get("apiVersion", "arks.ai/v1"),
        "kind": app.get("kind", "ArksApplication"),
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def desired_replicas(spec: ArksApplicationSpec, decision: ScaleDecision | None) -> int:
    """spec.replicas, unless autoscaling is on: then the slo-scaler's latest decision, within its bounds."""
    scaling = spec.autoscaling
    if scaling is None:
        return spec.replicas
    wanted = decision.desired_replicas if decision is not None else spec.replicas
    return max(scaling.min_replicas, min(scaling.max_replicas, wanted))


def desired_objects(app: dict[str, Any], plan: PlanReady, replicas: int) -> list[dict[str, Any]]:
    """The plan's objects, owned by the application, stamped with the plan hash, at `replicas` groups."""
    owner = owner_reference(app)
    out = []
    for obj in plan.objects:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta["ownerReferences"] = [owner]
        meta.setdefault("annotations", {})[PLAN_HASH_ANNOTATION] = plan.plan_hash
        if obj.get("kind") == LWS_KIND:
            obj["spec"]["replicas"] = replicas
        out.append(obj)
    return out


def is_current(desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """True when the live object already carries this plan (same hash) and, for the LWS, the same replicas."""
    if live is None:
        return False
    live_hash = (live.get("metadata", {}).get("annotations") or {}).get(PLAN_HASH_ANNOTATION)
    if live_hash != desired["metadata"]["annotations"][PLAN_HASH_ANNOTATION]:
        return False
    if desired.get("kind") == LWS_KIND:
        return bool(live.get("spec", {}).get("replicas") == desired["spec"]["replicas"])
    return True
