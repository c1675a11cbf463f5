"""Generates the CustomResourceDefinitions from the pydantic API types, so the two cannot drift.

Pydantic writes JSON Schema; the API server wants a structural OpenAPI v3 schema. This module rewrites the
one into the other (inline references, fold `X | None` into `X`, OpenAPI 3.0 exclusive bounds, no titles)
and adds what only a CRD has: names, subresources and printer columns. It does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from arks_common.api import GROUP, VERSION, ArksApplication, ArksEndpoint, ArksModel

_DROP = {"title", "const", "$defs"}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's schema as a structural OpenAPI v3 schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = raw.get("$defs", {})
    schema: dict[str, Any] = _rewrite(raw, defs)
    return schema


def _rewrite(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_rewrite(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        target = defs[ref.rsplit("/", 1)[-1]]
        node = {**target, **node}
    any_of = node.get("anyOf")
    if any_of is not None:
        non_null = [b for b in any_of if b != {"type": "null"}]
        if len(non_null) < len(any_of):
            node.pop("anyOf")
            if len(non_null) == 1:
                node = {**_rewrite(non_null[0], defs), **node}
            else:
                node["anyOf"] = non_null
            if node.get("default", 0) is None:
                node.pop("default")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "additionalProperties" and isinstance(value, bool):
            continue  # structural schemas express "anything" with x-kubernetes-preserve-unknown-fields
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema's numeric bound becomes OpenAPI 3.0's bound plus a flag
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
            continue
        if key in ("properties", "x-kubernetes-validations", "default", "enum", "required"):
            out[key] = {k: _rewrite(v, defs) for k, v in value.items()} if key == "properties" else value
            continue
        out[key] = _rewrite(value, defs)
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    elif "type" not in out and (out.get("x-kubernetes-preserve-unknown-fields") or "properties" in out):
        out["type"] = "object"
    return out


@dataclass(frozen=True)
class CrdNames:
    kind: str
    plural: str
    singular: str
    short_names: list[str]


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""

    def to_k8s(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            column["priority"] = self.priority
        if self.description:
            column["description"] = self.description
        return column


@dataclass(frozen=True)
class CrdDeclaration:
    model: type[BaseModel]
    names: CrdNames
    columns: list[PrinterColumn]
    scale: dict[str, str] | None = None
    categories: list[str] = field(default_factory=lambda: ["arks"])

    def to_k8s(self) -> dict[str, Any]:
        root = structural_schema(self.model)
        props = root["properties"]
        schema: dict[str, Any] = {
            "type": "object",
            "description": (self.model.__doc__ or self.names.kind).strip().splitlines()[0],
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": props["spec"],
                "status": props["status"],
            },
        }
        if "x-kubernetes-validations" in root:  # rules on the whole object: the only place to check metadata.name
            schema["x-kubernetes-validations"] = root["x-kubernetes-validations"]
        subresources: dict[str, Any] = {"status": {}}
        if self.scale is not None:
            subresources["scale"] = self.scale
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{self.names.plural}.{GROUP}"},
            "spec": {
                "group": GROUP,
                "names": {
                    "kind": self.names.kind,
                    "listKind": f"{self.names.kind}List",
                    "plural": self.names.plural,
                    "singular": self.names.singular,
                    "shortNames": self.names.short_names,
                    "categories": self.categories,
                },
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": VERSION,
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": schema},
                        "subresources": subresources,
                        "additionalPrinterColumns": [c.to_k8s() for c in self.columns],
                    }
                ],
            },
        }


_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")

APPLICATION_CRD = CrdDeclaration(
    model=ArksApplication,
    names=CrdNames("ArksApplication", "arksapplications", "arksapplication", ["arkapp"]),
    columns=[
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Replicas", "integer", ".status.replicas"),
        PrinterColumn("Ready", "integer", ".status.readyReplicas"),
        _AGE,
        PrinterColumn("Model", "string", ".spec.model.name", priority=1),
        PrinterColumn("Runtime", "string", ".spec.runtime", priority=1),
        PrinterColumn("Driver", "string", ".spec.driver", priority=1),
        # PD-separated serving: the groups each engine role asks for; per-role ready counts are in status.roles.
        PrinterColumn("Prefill", "integer", ".spec.prefill.replicas", priority=1),
        PrinterColumn("Decode", "integer", ".spec.decode.replicas", priority=1),
    ],
    scale={
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    },
)

MODEL_CRD = CrdDeclaration(
    model=ArksModel,
    names=CrdNames("ArksModel", "arksmodels", "arksmodel", ["arkmodel"]),
    columns=[
        _AGE,
        PrinterColumn("Model", "string", ".spec.model"),
        PrinterColumn("Phase", "string", ".status.phase"),
    ],
)

ENDPOINT_CRD = CrdDeclaration(
    model=ArksEndpoint,
    names=CrdNames("ArksEndpoint", "arksendpoints", "arksendpoint", ["arkep"]),
    columns=[
        PrinterColumn("Model", "string", ".status.model", description="The served model; * for every model"),
        PrinterColumn("Applications", "string", ".status.applicationsText"),
        PrinterColumn("Ready", "integer", ".status.readyBackends", description="Ready replica groups behind it"),
        PrinterColumn("URL", "string", ".status.url"),
        _AGE,
        PrinterColumn("AllModels", "boolean", ".spec.allModels", priority=1),
        PrinterColumn("Policy", "string", ".spec.router.policy", priority=1),
    ],
)

ALL_CRDS = (APPLICATION_CRD, MODEL_CRD, ENDPOINT_CRD)
