"""The Arks API (group `arks.ai`, version `v1`) as pydantic models: the one source of the CRDs."""

from arks_common.api.application import (
    ArksApplication,
    ArksApplicationSpec,
    ArksApplicationStatus,
    AutoscalingSpec,
    Driver,
    InstanceSpec,
    Phase,
    Runtime,
)
from arks_common.api.endpoint import ArksEndpoint, ArksEndpointSpec, ArksEndpointStatus, RouterPolicy
from arks_common.api.meta import API_VERSION, GROUP, VERSION, Condition, ConditionStatus, ObjectMeta
from arks_common.api.model import ArksModel, ArksModelSpec, ArksModelStatus, ModelPhase

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "ArksApplication",
    "ArksApplicationSpec",
    "ArksApplicationStatus",
    "ArksEndpoint",
    "ArksEndpointSpec",
    "ArksEndpointStatus",
    "ArksModel",
    "ArksModelSpec",
    "ArksModelStatus",
    "AutoscalingSpec",
    "Condition",
    "ConditionStatus",
    "Driver",
    "InstanceSpec",
    "ModelPhase",
    "ObjectMeta",
    "Phase",
    "RouterPolicy",
    "Runtime",
]
