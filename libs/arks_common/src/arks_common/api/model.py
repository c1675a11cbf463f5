"""ArksModel: a model preloaded from a hub into a PersistentVolumeClaim, and its status."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from arks_common.api.meta import (
    DNS_SUBDOMAIN,
    QUANTITY,
    ApiModel,
    Condition,
    ObjectMeta,
    cel_on_create,
    preserve_unknown,
)

HF_TOKEN_KEY = "HF_TOKEN"
"""The key of the token in the Secret that `source.huggingface.tokenSecretRef` names."""


class ModelPhase(StrEnum):
    PENDING = "Pending"
    STORAGE_CREATING = "StorageCreating"
    MODEL_LOADING = "ModelLoading"
    READY = "Ready"
    FAILED = "Failed"


class ModelConditionType(StrEnum):
    STORAGE_CREATED = "StorageCreated"
    MODEL_LOADED = "ModelLoaded"
    READY = "Ready"


SECRET_NAME_PATTERN = f"^({DNS_SUBDOMAIN})?$"
"""A Secret's name (a DNS-1123 subdomain, as Kubernetes validates it), or empty (no token)."""
CLAIM_NAME_PATTERN = SECRET_NAME_PATTERN
"""A PersistentVolumeClaim's name (a DNS-1123 subdomain), or empty (the model's name)."""
NAME_MAX = 253
"""Characters of a DNS-1123 subdomain at most: a Secret's or a claim's name."""
REPO_ID_MAX = 96 + 1 + 96
"""Characters of a Hub repository id at most: `namespace/name`, each part at most 96 (huggingface_hub's
`validate_repo_id`, `REPO_ID_REGEX` in `huggingface_hub/utils/_validators.py`, 2.4.0). In the CRD, and how much
of a longer one (stored before the rule) a status message repeats: each condition and every application's `Loaded`
repeated it whole, so a huge one made status writes too large to store."""


class HuggingFaceSource(ApiModel):
    token_secret_ref: str | None = Field(
        default=None,
        description=f"A Secret in the model's namespace whose key {HF_TOKEN_KEY} is the token.",
        # in the CRD only: the API server refuses a name no Secret can have (`HF-Token`, `other-ns/hf-token`) with
        # the field's name; a model stored before the rule is still read, and its refused Job is its failure
        json_schema_extra={"pattern": SECRET_NAME_PATTERN, "maxLength": NAME_MAX},
    )


class ModelSource(ApiModel):
    huggingface: HuggingFaceSource | None = Field(default=None, description="Download from the Hugging Face Hub.")


class PvcStorage(ApiModel):
    name: str | None = Field(
        default=None,
        description="The PVC's name; defaults to the model's name.",
        # in the CRD only (as tokenSecretRef): a model stored before the rule is still read, and its refused claim
        # is its failure, its name quoted bounded
        json_schema_extra={"pattern": CLAIM_NAME_PATTERN, "maxLength": NAME_MAX},
    )
    spec: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra={
            **preserve_unknown("A core/v1 PersistentVolumeClaimSpec."),
            "properties": {
                "accessModes": {"type": "array", "items": {"type": "string"}},
                # the model-loader reads the size (to grow a failed model's claim) by the same grammar the API
                # server admits here (arks_common.api.quantity); the rest of the spec is the claim's business
                "resources": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {
                        "requests": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                            "properties": {
                                "storage": {"x-kubernetes-int-or-string": True, "pattern": QUANTITY},
                            },
                        }
                    },
                },
            },
        },
    )

    def access_modes(self) -> list[str]:
        modes = self.spec.get("accessModes") or []
        return [str(m) for m in modes]


class ModelStorage(ApiModel):
    pvc: PvcStorage = Field(default_factory=PvcStorage)


class ArksModelSpec(ApiModel):
    model: str = Field(
        min_length=1,
        description="The hub repository id, for example Qwen/Qwen2.5-7B-Instruct-1M.",
        json_schema_extra={"maxLength": REPO_ID_MAX},  # in the CRD only: a model stored before it is still read
    )
    source: ModelSource = Field(default_factory=ModelSource)
    storage: ModelStorage = Field(default_factory=ModelStorage)


class DownloadRecord(ApiModel):
    """A download that completed: what was downloaded (the digest of the model's repo id, token Secret and claim
    name, as in its Job's name) and into which claim (its uid). The model is Ready on it without its Job (removed
    by hand or a TTL), and a claim created anew under the name is not it."""

    digest: str = Field(description="The digest of the model's download inputs, as in its download Job's name.")
    claim_uid: str = Field(description="The uid of the claim the download completed into.")


class ClaimRecord(ApiModel):
    """The model's claim as it is in the cluster. A claim's access modes cannot change once it exists: an edit of
    `spec.storage.pvc.spec.accessModes` after that is not the claim's, and the planner places by these."""

    name: str = Field(description="The claim's name.")
    access_modes: list[str] = Field(
        default_factory=list,
        description="The claim's spec.accessModes, whatever the model's spec asks since it was created.",
        json_schema_extra={"maxItems": 16},
    )


class ArksModelStatus(ApiModel):
    phase: ModelPhase = ModelPhase.PENDING
    observed_generation: int = 0
    download: DownloadRecord | None = Field(default=None, description="The download that completed, if any.")
    claim: ClaimRecord | None = Field(default=None, description="The model's claim as the cluster has it, if any.")
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


class ArksModel(ApiModel):
    """A model preloaded from a hub into shared storage, ready for applications to mount."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                # the name is the `arks.ai/model` label on its claim, download Job and every application's pods
                cel_on_create(
                    "self.metadata.name.size() <= 63",
                    "metadata.name: an ArksModel's name is at most 63 characters (it is the value of the label "
                    "arks.ai/model)",
                )
            ]
        }
    }

    api_version: str = "arks.ai/v1"
    kind: str = "ArksModel"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ArksModelSpec
    status: ArksModelStatus = Field(default_factory=ArksModelStatus)

    def pvc_name(self) -> str:
        return self.spec.storage.pvc.name or self.metadata.name

    def claim_access_modes(self) -> list[str]:
        """What the model's volume allows: its claim's access modes as the model-loader recorded them (the claim's
        cannot change, whatever the spec says since), else the spec's (no claim yet: it is made from them)."""
        claim = self.status.claim
        if claim is not None and claim.name == self.pvc_name():
            return list(claim.access_modes)
        return self.spec.storage.pvc.access_modes()

    def access_modes_kept(self) -> bool:
        """The spec asks for other access modes than its claim has (edited after the claim was made)."""
        asked = self.spec.storage.pvc.access_modes()
        return bool(asked) and set(asked) != set(self.claim_access_modes())
