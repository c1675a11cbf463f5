"""Shared building blocks of the API types: the base model, object metadata, conditions, schema markers.

Markers here only annotate fields for the CRD generator (`arks_common.crdgen`); they carry no behaviour.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from arks_common.api.quantity import QUANTITY as QUANTITY  # where the CRD types have always found it

GROUP = "arks.ai"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are kept out, not refused.

    The API server prunes unknown fields already, so tolerating them here lets an older service read a newer
    object without crashing.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        use_enum_values=False,
        ser_json_timedelta="float",
    )

    def to_k8s(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, no unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
"""The name of most Kubernetes objects (a DNS-1123 subdomain, as apimachinery validates it; at most 253 characters,
which the pattern does not say). Unanchored, for CRD patterns and Python checks alike."""

Quantity = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True, "pattern": QUANTITY}),
]
"""A resource quantity as Kubernetes takes it: `1`, `"500m"`, `"16Gi"`. The API server refuses any other text
(the pattern applies to strings only); the model does not, so an object stored before the schema said so still
parses and its refusal is reported where the quantity is used."""


def preserve_unknown(description: str) -> dict[str, Any]:
    """Schema extras for a pass-through Kubernetes object (affinity, probes, ...) kept as the user wrote it."""
    return {"x-kubernetes-preserve-unknown-fields": True, "description": description}


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One CEL validation rule for `x-kubernetes-validations`."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def cel_on_create(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """A CEL rule the API server checks when the object is created, not on its later writes. For a rule on the
    whole object (the only place to check `metadata.name`): ratcheting skips only unchanged values, and the root
    changes on every write, so a plain rule would refuse every finalizer, spec and status write to a stored object
    breaking it (one made before the rule, or through a path that skipped it) and it could never go cleanly.
    `optionalOldSelf` makes the rule run on create too, `oldSelf` then empty (Kubernetes 1.30+, beta and on by
    default; 1.29 only with the CRDValidationRatcheting feature gate)."""
    entry = cel(f"oldSelf.hasValue() || ({rule})", message, field_path)
    entry["optionalOldSelf"] = True
    return entry


class ObjectMeta(ApiModel):
    """The parts of `metadata` Arks reads; the rest stays with the API server."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    deletion_timestamp: datetime | None = None
    finalizers: list[str] = Field(default_factory=list)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A status condition, shaped like metav1.Condition."""

    type: str
    status: ConditionStatus
    reason: str = Field(default="", description="One CamelCase word a program can match on.")
    message: str = Field(default="", description="What happened and, on failure, what to change.")
    last_transition_time: datetime | None = None
    observed_generation: int | None = Field(default=None, ge=0)
