"""Validates an object against a CRD's schema the way the API server does, offline: the OpenAPI v3 schema
with a JSON-schema validator (Draft 4 semantics, as OpenAPI 3.0 uses) and the `x-kubernetes-validations`
CEL rules with a CEL evaluator. Messages name the field, as the API server's do. With `old` (an update of a
stored object), a rule's `oldSelf` is the stored value at its place; a rule marked `optionalOldSelf` also runs on
create, `oldSelf` then having no value (`oldSelf.hasValue()` False), as in Kubernetes 1.30 and later. Ratcheting
of unchanged values is not modelled."""

from __future__ import annotations

from typing import Any

import celpy
import jsonschema
from celpy.adapter import json_to_cel
from celpy.celtypes import BoolType


def _path(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validate(crd: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Every error the schema and the CEL rules find in `obj` (created, or replacing `old`), as `field.path:
    message`."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    errors = [
        f"{_path(list(e.absolute_path))}: {e.message}" for e in jsonschema.Draft4Validator(schema).iter_errors(obj)
    ]
    if not errors:
        errors.extend(_cel_errors(schema, obj, [], old))
    return errors


_env = celpy.Environment()


class _Optional:
    """CEL's optional value, as `oldSelf` is under `optionalOldSelf`: empty on create."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _has_value(optional: _Optional) -> BoolType:
    return BoolType(optional.value is not None)


def _cel_errors(schema: dict[str, Any], value: Any, path: list[Any], old: Any = None) -> list[str]:
    errors: list[str] = []
    for rule in schema.get("x-kubernetes-validations", []):
        activation: dict[str, Any] = {"self": json_to_cel(value)}
        if rule.get("optionalOldSelf"):
            activation["oldSelf"] = _Optional(None if old is None else json_to_cel(old))
        elif "oldSelf" in rule["rule"]:
            if old is None:
                continue  # a transition rule: updates only
            activation["oldSelf"] = json_to_cel(old)
        program = _env.program(_env.compile(rule["rule"]), functions={"hasValue": _has_value})
        result = program.evaluate(activation)
        if not (isinstance(result, BoolType) and bool(result)):
            where = _path(path) + rule.get("fieldPath", "")
            errors.append(f"{where}: Invalid value: {rule['message']}")
    if isinstance(value, dict):
        stored = old if isinstance(old, dict) else {}
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                errors.extend(_cel_errors(sub, value[key], [*path, key], stored.get(key)))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, sub_value in value.items():
                if key not in schema.get("properties", {}):
                    errors.extend(_cel_errors(extra, sub_value, [*path, key], stored.get(key)))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors.extend(_cel_errors(schema["items"], item, [*path, i]))
    return errors
