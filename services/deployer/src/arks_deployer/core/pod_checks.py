"""The pods a LeaderWorkerSet will make, as the API server would take them: checked before the set is applied.

The LeaderWorkerSet webhook does not validate its pod templates (LWS v0.9.0 `pkg/webhooks/leaderworkerset_webhook.go`),
and what refuses a pod comes only when the LWS and StatefulSet controllers create it: the StatefulSet's
validation (an invalid label, env name, toleration, resource), or the admission of each pod (a ServiceAccount
that does not exist, Pod Security, a quota, a LimitRange). Those controllers only log and retry, the set's status
stays empty, and the application would sit in `Creating` for good with no reason given. So before a set is
created or its template changes, the deployer sends one pod of it to the API server as a dry run (nothing is
stored): a refusal is the application's status, in the server's own words. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arks_common.conventions import ROLE_SERVE
from arks_deployer.core.desired import LWS_KIND, Desired, name_of
from arks_deployer.core.diff import Diff, Verb
from arks_deployer.core.refusals import webhook_denial

Obj = dict[str, Any]
POD_FIELDS = (
    "labels, annotations, env, resources, nodeSelector, tolerations, affinity, serviceAccountName, "
    "priorityClassName, volumes"
)


@dataclass(frozen=True)
class PodCheck:
    lws: str
    pod: Obj
    created: bool
    """The set is new (False: its template changes, and its pods are replaced within what the running ones hold)."""
    role: str = ROLE_SERVE
    """The application's role the set serves: a PD role's pod fields come from `spec.<role>.instanceSpec`."""


def pods_to_check(changes: Diff, desired: list[Desired]) -> list[PodCheck]:
    """One pod of each set the changes create or give a new template, unless it runs no group: its leader's
    template (the worker's where the group is its leader alone). The user's fields are the same in both; the
    workers differ by Arks' own command line only. A ServiceAccount the plan itself holds (a PD router's) is
    applied before the set, so the pod is checked without it."""
    planned_accounts = {name_of(d.object) for d in desired if d.object.get("kind") == "ServiceAccount"}
    out = []
    for change in changes.changes:
        lws = change.desired.object
        if (
            lws.get("kind") != LWS_KIND
            or change.verb not in (Verb.CREATED, Verb.UPDATED)
            or not change.desired.replicas
        ):
            continue
        group = (lws.get("spec") or {}).get("leaderWorkerTemplate") or {}
        template = group.get("leaderTemplate") or group.get("workerTemplate")
        if not isinstance(template, dict):
            continue
        name = name_of(lws)
        metadata = template.get("metadata") or {}
        spec = dict(template.get("spec") or {})
        if spec.get("serviceAccountName") in planned_accounts:
            del spec["serviceAccountName"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{name[:50]}-check-",
                "namespace": (lws.get("metadata") or {}).get("namespace"),
                "labels": dict(metadata.get("labels") or {}),
                "annotations": dict(metadata.get("annotations") or {}),
            },
            "spec": spec,
        }
        out.append(PodCheck(name, pod, change.verb is Verb.CREATED, change.desired.role or ROLE_SERVE))
    return out


def refusal_message(lws_name: str, server_message: str, role: str = ROLE_SERVE) -> str:
    """The refusal, pointing at where the set's pod fields are written: a PD application has no spec.instanceSpec,
    each role has its own."""
    where = "instanceSpec" if role == ROLE_SERVE else f"spec.{role}.instanceSpec"
    hint = f"the pod's fields come from the application's {where} ({POD_FIELDS})"
    return f"the pods of LeaderWorkerSet {lws_name} would be refused: {server_message} ({hint})"


def is_refusal(check: PodCheck, status: int, message: str) -> bool:
    """Whether the dry run's answer says the set's pods would be refused. Not: a webhook's denial (a policy on
    bare pods, say `require an owner`, that the set's own pods would pass), a webhook that takes no dry runs (400),
    the deployer's own RBAC without `pods: create`, or a quota the running pods use up while the set's template
    changes (a rolling update replaces them within it). Those leave the set applied as before."""
    if status == 422:
        return True
    if status != 403:
        return False
    if webhook_denial(message) or 'cannot create resource "pods"' in message:
        return False
    return check.created or "exceeded quota" not in message
