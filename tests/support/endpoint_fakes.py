"""Stand-ins for the deployer's EndpointReconciler: an API server in memory that refuses what the real one's
validation refuses (the rules these tests touch, with its wording), and the endpoint plan stream holding the
planner's own plan. The e2e tests run the real ones (tests/e2e/test_endpoint*.py)."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from nats.js.errors import NotFoundError

from arks_common.api.endpoint import ArksEndpoint
from arks_common.conventions import served_model_label
from arks_common.events.contract import ENDPOINT_PLANS
from arks_common.events.payloads import EndpointPlanReady, Envelope, ObjectKind, ObjectRef, encode
from arks_common.kube.client import KubeError, refusal
from arks_common.kube.packed import Packed
from arks_common.kube.resources import Resource
from arks_planner.core.endpoint import RouterSettings, build_endpoint_plan

Obj = dict[str, Any]
ROUTER = RouterSettings(image="registry.example/smg:1.13.0", backend_port=8080)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_QUANTITY = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$")
"""apimachinery's resource.Quantity grammar, written apart from the CRD's pattern that it checks."""


def _invalid(kind: str, name: str, causes: list[str]) -> KubeError:
    body = {"kind": "Status", "reason": "Invalid", "message": f'{kind} "{name}" is invalid: {"; ".join(causes)}'}
    return refusal(f"apply {kind} default/{name}", 422, "Unprocessable Entity", json.dumps(body).encode(), {})


def _label_causes(labels: dict[str, str], where: str) -> list[str]:
    causes = []
    for key, value in labels.items():
        if len(key.split("/")[-1]) > 63 or not _QUALIFIED_NAME.match(key.split("/")[-1]):
            causes.append(f"{where}: Invalid value: '{key}': name part must be no more than 63 characters")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(f"{where}: Invalid value: '{value}': must be no more than 63 characters")
    return causes


def api_server_causes(obj: Obj) -> list[str]:
    """Why the API server refuses `obj` (Service names and ports, labels, resource quantities), [] if it does not."""
    kind, meta = obj["kind"], obj["metadata"]
    causes = _label_causes(meta.get("labels") or {}, "metadata.labels")
    if kind == "Service":
        if len(meta["name"]) > 63 or not _DNS_LABEL.match(meta["name"]):
            name = meta["name"]
            causes.append(f"metadata.name: Invalid value: '{name}': a DNS-1035 label must consist of lower case")
        seen = set()
        for i, port in enumerate(obj["spec"]["ports"]):
            key = (port["port"], port.get("protocol", "TCP"))
            if key in seen:
                causes.append(f"spec.ports[{i}]: Duplicate value: core.ServicePort{{Port:{key[0]}, Protocol:{key[1]}}}")
            seen.add(key)
    if kind == "Deployment":
        template = obj["spec"]["template"]
        causes += _label_causes(template["metadata"].get("labels") or {}, "spec.template.metadata.labels")
        for container in template["spec"]["containers"]:
            for section, values in (container.get("resources") or {}).items():
                for resource, quantity in values.items():
                    if not _QUANTITY.match(str(quantity)):
                        where = f"spec.template.spec.containers[0].resources.{section}[{resource}]"
                        causes.append(f"{where}: Invalid value: '{quantity}': quantities must match the regular expr")
    return causes


class ApiServer:
    """The objects, by (kind, namespace, name). `refuse[(kind, name)]` is raised by that object's apply."""

    def __init__(self, *objects: Obj) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.refuse: dict[tuple[str, str], KubeError] = {}
        self.status_refuse: dict[str, KubeError] = {}
        self.applied: list[tuple[str, str]] = []
        for obj in objects:
            self.put(obj)

    def put(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self.objects[(obj["kind"], meta.get("namespace", "default"), meta["name"])] = copy.deepcopy(obj)

    def status(self, name: str, namespace: str = "default") -> Obj:
        status: Obj = self.objects[("ArksEndpoint", namespace, name)].get("status") or {}
        return status

    def condition(self, name: str, type_: str) -> Obj:
        return next(c for c in self.status(name).get("conditions") or [] if c["type"] == type_)

    async def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        obj = self.objects.get((res.kind, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def _of(self, kind: str, namespace: str | None, label_selector: str | None) -> list[Obj]:
        wanted = dict(term.split("=", 1) for term in label_selector.split(",")) if label_selector else {}
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == kind and namespace in (None, ns) and wanted.items() <= (obj["metadata"].get("labels") or {}).items()
        ]

    async def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None, **_: Any
    ) -> tuple[list[Obj], str]:
        return self._of(res.kind, namespace, label_selector), "1"

    async def list_packed(self, res: Resource, namespace: str | None = None, **_: Any) -> tuple[Packed, str]:
        return Packed(self._of(res.kind, namespace, None)), "1"

    async def apply(self, res: Resource, obj: Obj, force: bool = True) -> Obj:
        meta = obj["metadata"]
        scripted = self.refuse.get((obj["kind"], meta["name"]))
        if scripted is not None:
            raise scripted
        causes = api_server_causes(obj)
        if causes:
            raise _invalid(obj["kind"], meta["name"], causes)
        self.put(obj)
        self.applied.append((obj["kind"], meta["name"]))
        return copy.deepcopy(obj)

    async def merge_patch(self, res: Resource, namespace: str, name: str, patch: Obj) -> Obj:
        obj = self.objects[(res.kind, namespace, name)]
        causes = _label_causes({k: v for k, v in patch["metadata"]["labels"].items() if v is not None}, "labels")
        if causes:
            raise _invalid(res.kind, name, causes)
        labels = obj["metadata"].setdefault("labels", {})
        for key, value in patch["metadata"]["labels"].items():
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
        return copy.deepcopy(obj)

    async def apply_status(self, res: Resource, namespace: str, name: str, status: Obj) -> Obj:
        scripted = self.status_refuse.get(name)
        if scripted is not None:
            raise scripted
        self.objects[(res.kind, namespace, name)]["status"] = copy.deepcopy(status)
        return {}

    async def delete(self, res: Resource, namespace: str, name: str, **_: Any) -> bool:
        return self.objects.pop((res.kind, namespace, name), None) is not None


class Plans:
    """The endpoint plan stream (`get_last_msg`, what the deployer reads): the planner's plan of each endpoint
    stored with `plan`."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    def plan(self, endpoint: Obj) -> EndpointPlanReady:
        parsed = ArksEndpoint.model_validate(endpoint)
        meta = parsed.metadata
        built = build_endpoint_plan(parsed, ROUTER)
        ref = ObjectRef(kind=ObjectKind.ENDPOINT, namespace=meta.namespace, name=meta.name, uid=meta.uid)
        ready = EndpointPlanReady(ref=ref, generation=meta.generation, plan_hash=built.plan_hash, objects=built.objects)
        envelope = Envelope(id=f"endpointplan:{meta.uid}", source="planner", time=datetime.now(UTC), data=ready)
        self.stored[ENDPOINT_PLANS.stored(meta.namespace, meta.name)] = encode(envelope)
        return ready

    async def get_last_msg(self, stream: str, subject: str) -> SimpleNamespace:
        if subject not in self.stored:
            raise NotFoundError
        return SimpleNamespace(seq=1, data=self.stored[subject])


def endpoint_doc(name: str, namespace: str = "default", **spec: Any) -> Obj:
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksEndpoint",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": spec,
    }


def app_doc(name: str, served: str, ready: int = 1, namespace: str = "default") -> Obj:
    """A running aggregated application of one node per group, `ready` groups ready, as the deployer writes it."""
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksApplication",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": {"model": {"name": "qwen-7b"}, "servedModelName": served, "instanceSpec": {"replicas": 1}},
        "status": {
            "phase": "Running",
            "observedGeneration": 1,
            "replicas": max(ready, 1),
            "readyReplicas": ready,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "Running"}],
        },
    }


def leader_pod(
    application: str,
    served: str,
    group: int = 0,
    ready: bool = True,
    role: str = "serve",
    namespace: str = "default",
) -> Obj:
    """The leader pod of one replica group (of the PD router for role `router`) with the labels the application
    plan gives it, Ready or not."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{application}-{group}" if role == "serve" else f"{application}-{role}-{group}",
            "namespace": namespace,
            "labels": {
                "arks.ai/application": application,
                "arks.ai/role": role,
                "arks.ai/work-load-role": "leader",
                "arks.ai/endpoint-backend": "true",
                "arks.ai/served-model": served_model_label(served),
            },
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
