"""ArksApplication: one LLM inference service (spec of the user guide, plus `autoscaling`) and its status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from arks_common.api.meta import ApiModel, Condition, ObjectMeta, cel, preserve_unknown

MODEL_VOLUME_NAME = "models"
MODEL_MOUNT_PATH = "/models"
MAX_VOLUMES = 64
"""Bounds the lists that carry CEL rules, so the API server can bound the rules' cost."""
MAX_ITEMS = 256
"""Bounds the other lists and maps (env, tolerations, labels, extraOptions, ...): far above any real use, far
below what would make one object, its plan or its events too large for the bus (see docs/status.md)."""
MAX_OPTION_LENGTH = 4096
MAX_REPLICAS = 2**31 - 1
"""A LeaderWorkerSet's `spec.replicas` and `leaderWorkerTemplate.size` are int32 (LWS v0.9.0 api/leaderworkerset/v1
leaderworkerset_types.go): a larger count passed precheck and was refused by the LWS webhook ("cannot unmarshal
number ... of type int32"), naming the LeaderWorkerSet instead of the field, after the other roles' objects were
made. No stored object above it ever ran, so the model refuses it too."""

Option = Annotated[str, Field(max_length=MAX_OPTION_LENGTH)]

KubeObject = dict[str, Any]
"""A Kubernetes object passed through to the pod as the user wrote it."""


class Runtime(StrEnum):
    VLLM = "vllm"
    SGLANG = "sglang"
    DYNAMO = "dynamo"


class DynamoBackend(StrEnum):
    """The engine a Dynamo worker runs (`python3 -m dynamo.<backend>`)."""

    VLLM = "vllm"
    SGLANG = "sglang"


class Driver(StrEnum):
    LWS = "lws"
    LWS_AS_NAMED = "LWS"  # the user guide names it so ("Currently only supports LWS"): both spellings mean it


class Phase(StrEnum):
    PENDING = "Pending"
    CHECKING = "Checking"
    LOADING = "Loading"
    CREATING = "Creating"
    RUNNING = "Running"
    FAILED = "Failed"


class ConditionType(StrEnum):
    PRECHECK = "Precheck"
    LOADED = "Loaded"
    READY = "Ready"


IntOrString = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]


class ResourceRequirements(ApiModel):
    limits: dict[str, IntOrString] = Field(default_factory=dict)
    requests: dict[str, IntOrString] = Field(default_factory=dict)


class LocalObjectReference(ApiModel):
    name: str


class ModelRef(ApiModel):
    name: str = Field(min_length=1, description="The ArksModel, in the same namespace, this application serves.")


class EnvVar(ApiModel):
    """An environment variable; `valueFrom` and friends pass through untouched."""

    model_config = ApiModel.model_config | {"extra": "allow", "json_schema_extra": preserve_unknown("EnvVar")}

    name: str = Field(min_length=1)


class Volume(ApiModel):
    """A pod volume (any source); the name `models` is the model volume's and is refused."""

    model_config = ApiModel.model_config | {
        "extra": "allow",
        "json_schema_extra": {
            **preserve_unknown("A pod volume (core/v1 Volume)."),
            "x-kubernetes-validations": [
                cel(
                    f"self.name != '{MODEL_VOLUME_NAME}'",
                    f"the volume name '{MODEL_VOLUME_NAME}' is reserved for the model volume Arks mounts; "
                    "rename this volume",
                    ".name",
                )
            ],
        },
    }

    name: str = Field(min_length=1, max_length=253)


class VolumeMount(ApiModel):
    """A container volume mount; `/models` (and below it) holds the model and is refused."""

    model_config = ApiModel.model_config | {
        "extra": "allow",
        "json_schema_extra": {
            **preserve_unknown("A container volume mount (core/v1 VolumeMount)."),
            "x-kubernetes-validations": [
                cel(
                    f"self.mountPath != '{MODEL_MOUNT_PATH}' && !self.mountPath.startsWith('{MODEL_MOUNT_PATH}/')",
                    f"the mount path {MODEL_MOUNT_PATH} is reserved for the model volume Arks mounts; "
                    "mount this volume elsewhere",
                    ".mountPath",
                )
            ],
        },
    }

    name: str = Field(min_length=1, max_length=253)
    mount_path: str = Field(min_length=1, max_length=4096)


class InstanceSpec(ApiModel):
    """One node of a replica group: what every pod of the group gets."""

    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS, description="Nodes (pods) per replica group.")
    resources: ResourceRequirements | None = Field(default=None, description="Resources of each node.")
    annotations: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS)
    labels: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS)
    env: list[EnvVar] = Field(default_factory=list, max_length=MAX_ITEMS)
    volume_mounts: list[VolumeMount] = Field(default_factory=list, max_length=MAX_VOLUMES)
    volumes: list[Volume] = Field(default_factory=list, max_length=MAX_VOLUMES)
    node_selector: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS)
    affinity: KubeObject | None = Field(default=None, json_schema_extra=preserve_unknown("core/v1 Affinity"))
    scheduler_name: str | None = None
    tolerations: list[KubeObject] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        json_schema_extra={"items": preserve_unknown("core/v1 Toleration")},
    )
    service_account_name: str | None = None
    priority_class_name: str | None = None
    readiness_probe: KubeObject | None = Field(default=None, json_schema_extra=preserve_unknown("core/v1 Probe"))
    liveness_probe: KubeObject | None = Field(default=None, json_schema_extra=preserve_unknown("core/v1 Probe"))
    startup_probe: KubeObject | None = Field(default=None, json_schema_extra=preserve_unknown("core/v1 Probe"))
    security_context: KubeObject | None = Field(
        default=None, json_schema_extra=preserve_unknown("core/v1 SecurityContext of the runtime container")
    )

    def gpus_per_node(self) -> int:
        """The `nvidia.com/gpu` limit (or request) of one node, 0 when none is asked for."""
        if self.resources is None:
            return 0
        raw = self.resources.limits.get("nvidia.com/gpu", self.resources.requests.get("nvidia.com/gpu", 0))
        try:
            return int(raw)
        except (TypeError, ValueError):
            return 0


class LatencyTarget(ApiModel):
    """A latency objective: `percentile` of the samples must stay at or under `targetMilliseconds`."""

    target_milliseconds: float = Field(gt=0, description="The latency the percentile must not exceed, in ms.")
    percentile: float = Field(default=90, ge=50, le=99.9, description="Which percentile, for example 90.")


class SloSpec(ApiModel):
    time_to_first_token: LatencyTarget | None = Field(default=None, description="Time to first token (TTFT).")
    inter_token_latency: LatencyTarget | None = Field(
        default=None, description="Time per output token after the first (TPOT / inter-token latency)."
    )


MAX_SCALE_DOWN_STABILIZATION_SECONDS = 3600
"""The HPA's bound on its `stabilizationWindowSeconds`: the scaler keeps one recommendation per tick of the window."""


class ScalingBehavior(ApiModel):
    scale_up_stabilization_seconds: int = Field(
        default=30, ge=0, description="A scale-up needs the SLO breached for this long."
    )
    scale_down_stabilization_seconds: int = Field(
        default=300,
        ge=0,
        # the CRD's bound only: an object stored before it parses, and the decision holds its window to the bound
        json_schema_extra={"maximum": MAX_SCALE_DOWN_STABILIZATION_SECONDS},
        description="A scale-down takes the highest recommendation of this window (at most an hour, as the HPA's).",
    )
    warmup_seconds: int = Field(
        default=60, ge=0, description="Samples from a group younger than this (cold start) are ignored."
    )


class AutoscalingSpec(ApiModel):
    """SLO-based autoscaling: when set, the slo-scaler is the single writer of the replica count."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                    "minReplicas must not be larger than maxReplicas",
                    ".minReplicas",
                )
            ]
        }
    }

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(ge=1)
    slo: SloSpec = Field(default_factory=SloSpec)
    behavior: ScalingBehavior = Field(default_factory=ScalingBehavior)

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.minReplicas must not be larger than autoscaling.maxReplicas")
        return self


class PdRoleSpec(ApiModel):
    """One engine role of PD-separated serving (`prefill` or `decode`): its own groups, shape and options."""

    replicas: int = Field(
        default=1,
        ge=0,
        le=MAX_REPLICAS,
        description="Replica groups of this role (until the first decision, with autoscaling).",
    )
    tensor_parallel_size: int | None = Field(default=None, ge=1)
    extra_options: list[Option] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Passed to this role's engines verbatim and in order.",
    )
    instance_spec: InstanceSpec = Field(default_factory=InstanceSpec)
    autoscaling: AutoscalingSpec | None = Field(
        default=None,
        description="SLO autoscaling of this role's groups within its own min/max (docs/pd.md): prefill on "
        "timeToFirstToken and its queue, decode on interTokenLatency and KV-cache usage.",
    )


class RouterSpec(ApiModel):
    """The router (SGLang) or frontend (Dynamo) in front of the prefill and decode groups: one pod per group."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    "!has(self.instanceSpec) || !has(self.instanceSpec.replicas) || self.instanceSpec.replicas == 1",
                    "the router runs on one node per group; remove instanceSpec.replicas or set it to 1",
                    ".instanceSpec.replicas",
                )
            ]
        }
    }

    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS, description="Router (frontend) pods.")
    extra_options: list[Option] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Passed to the router's (frontend's) command line verbatim and in order.",
    )
    instance_spec: InstanceSpec = Field(default_factory=InstanceSpec)

    @model_validator(mode="after")
    def _one_node(self) -> RouterSpec:
        if self.instance_spec.replicas != 1:
            raise ValueError(
                "spec.router.instanceSpec.replicas: the router runs on one node per group; remove it or set it to 1"
            )
        return self


class DynamoSpec(ApiModel):
    """Settings of the Dynamo runtime (only with `runtime: dynamo`)."""

    backend: DynamoBackend = Field(
        default=DynamoBackend.VLLM,
        description="The engine Dynamo's workers run: vllm (dynamo.vllm, the default) or sglang (dynamo.sglang).",
    )


RUNTIME_SETTINGS_RULES: list[Any] = [
    cel(
        "!has(self.dynamo) || (has(self.runtime) && self.runtime == 'dynamo')",
        "dynamo settings apply only to runtime dynamo; set runtime: dynamo or remove dynamo",
        ".dynamo",
    ),
]
"""Runtime-specific blocks go only with their runtime (`runtime_settings_problem` is the same in Python)."""


PD_FORM_RULES: list[Any] = [
    cel("has(self.prefill) == has(self.decode)", "prefill and decode go together: set both or neither", ".decode"),
    cel(
        "!has(self.router) || has(self.prefill)",
        "router is only for PD-separated serving (prefill and decode)",
        ".router",
    ),
    cel(
        "!has(self.prefill) || (has(self.runtime) && self.runtime != 'vllm')",
        "PD-separated serving (prefill and decode) needs runtime sglang or dynamo",
        ".runtime",
    ),
    cel(
        "!has(self.prefill) || !has(self.tensorParallelSize)",
        "with prefill and decode, set tensorParallelSize per role (prefill and decode)",
        ".tensorParallelSize",
    ),
    cel(
        "!has(self.prefill) || !has(self.extraOptions) || size(self.extraOptions) == 0",
        "with prefill and decode, set extraOptions per role (prefill, decode, router)",
        ".extraOptions",
    ),
    cel(
        "!has(self.prefill) || !has(self.instanceSpec)",
        "with prefill and decode, set instanceSpec per role (prefill, decode, router)",
        ".instanceSpec",
    ),
    cel(
        "!has(self.prefill) || !has(self.replicas) || self.replicas == 1",
        "with prefill and decode, scale prefill.replicas and decode.replicas; spec.replicas does not apply",
        ".replicas",
    ),
    cel(
        "!has(self.prefill) || !has(self.autoscaling)",
        "with prefill and decode, set autoscaling per role (prefill.autoscaling, decode.autoscaling)",
        ".autoscaling",
    ),
    cel(
        "!has(self.prefill) || !has(self.prefill.autoscaling) || !has(self.prefill.autoscaling.slo)"
        " || !has(self.prefill.autoscaling.slo.interTokenLatency)",
        "prefill is scaled on timeToFirstToken and its queue; set interTokenLatency in decode.autoscaling.slo",
        ".prefill.autoscaling.slo.interTokenLatency",
    ),
    cel(
        "!has(self.decode) || !has(self.decode.autoscaling) || !has(self.decode.autoscaling.slo)"
        " || !has(self.decode.autoscaling.slo.timeToFirstToken)",
        "decode is scaled on interTokenLatency and KV-cache usage; set timeToFirstToken in prefill.autoscaling.slo",
        ".decode.autoscaling.slo.timeToFirstToken",
    ),
    cel(
        "!has(self.prefill) || !has(self.prefill.autoscaling)"
        " || (has(self.prefill.autoscaling.slo) && has(self.prefill.autoscaling.slo.timeToFirstToken))",
        "prefill is scaled on timeToFirstToken: set its target in prefill.autoscaling.slo.timeToFirstToken",
        ".prefill.autoscaling.slo",
    ),
    cel(
        "!has(self.decode) || !has(self.decode.autoscaling)"
        " || (has(self.decode.autoscaling.slo) && has(self.decode.autoscaling.slo.interTokenLatency))",
        "decode is scaled on interTokenLatency: set its target in decode.autoscaling.slo.interTokenLatency",
        ".decode.autoscaling.slo",
    ),
]
"""The PD form (docs/pd.md) beside the aggregated one: both engine roles or neither, and no aggregated-only
field with them; each autoscaled role has its own target. `pd_form_problem` is the same in Python, for objects
stored before the CRD had them, but for the roles' targets: those rules are the CRD's only (a role stored
without its target keeps serving, held within its bounds by the slo-scaler, which says no target is set)."""

SLO_RULES: list[Any] = [
    cel(
        "!has(self.autoscaling) || (has(self.autoscaling.slo)"
        " && (has(self.autoscaling.slo.timeToFirstToken) || has(self.autoscaling.slo.interTokenLatency)))",
        "autoscaling needs a latency target to hold the application to: set slo.timeToFirstToken or "
        "slo.interTokenLatency",
        ".autoscaling.slo",
    ),
]
"""Autoscaling without a target has nothing to judge latency by (it never learns a capacity) and told the user
"no requests in the window" while requests flowed. The CRD's rule only: an application stored before it parses and
keeps serving, and the slo-scaler holds it within its bounds saying no target is set (an upgrade must not fail a
running application)."""


class ArksApplicationSpec(ApiModel):
    model_config = ApiModel.model_config | {
        "json_schema_extra": {"x-kubernetes-validations": [*RUNTIME_SETTINGS_RULES, *PD_FORM_RULES, *SLO_RULES]}
    }

    replicas: int = Field(
        default=1, ge=0, le=MAX_REPLICAS, description="Replica groups; each group is one multi-node service."
    )
    driver: Driver = Field(default=Driver.LWS, description="The workload driver; only lws (also spelled LWS).")
    runtime: Runtime = Field(default=Runtime.VLLM, description="vllm, sglang or dynamo.")
    runtime_image: str | None = Field(
        default=None, description="The runtime image; defaults to the installation's validated image."
    )
    runtime_image_pull_secrets: list[LocalObjectReference] = Field(default_factory=list, max_length=MAX_VOLUMES)
    model: ModelRef
    served_model_name: str | None = Field(
        default=None, description="The model name the API serves; defaults to model.name."
    )
    tensor_parallel_size: int | None = Field(default=None, ge=1)
    extra_options: list[Option] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Passed to the runtime's command line verbatim and in order.",
    )
    instance_spec: InstanceSpec = Field(default_factory=InstanceSpec)
    autoscaling: AutoscalingSpec | None = None
    prefill: PdRoleSpec | None = Field(
        default=None, description="PD-separated serving: the prefill role (with decode; docs/pd.md)."
    )
    decode: PdRoleSpec | None = Field(
        default=None, description="PD-separated serving: the decode role (with prefill; docs/pd.md)."
    )
    router: RouterSpec | None = Field(
        default=None, description="PD-separated serving: the router (SGLang) or frontend (Dynamo) settings."
    )
    dynamo: DynamoSpec | None = Field(
        default=None, description="Dynamo's settings (runtime dynamo only): its engine backend (docs/runtimes.md)."
    )

    @model_validator(mode="after")
    def _pd_form(self) -> ArksApplicationSpec:
        problem = runtime_settings_problem(self) or pd_form_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    def backend(self) -> str | None:
        """The engine backend of a runtime that has several (Dynamo: vllm unless `spec.dynamo` says otherwise);
        None for the runtimes that are their own engine."""
        if self.runtime != Runtime.DYNAMO:
            return None
        return str(self.dynamo.backend if self.dynamo is not None else DynamoBackend.VLLM)

    def disaggregated(self) -> bool:
        return self.prefill is not None and self.decode is not None

    def effective_served_model_name(self) -> str:
        return self.served_model_name or self.model.name


def runtime_settings_problem(spec: ArksApplicationSpec) -> str | None:
    """A runtime-specific block given for another runtime, naming the field (RUNTIME_SETTINGS_RULES in Python)."""
    if spec.dynamo is not None and spec.runtime != Runtime.DYNAMO:
        return (
            f"spec.dynamo: dynamo settings apply only to runtime dynamo (spec.runtime is {spec.runtime}); "
            "set runtime: dynamo or remove dynamo"
        )
    return None


def pd_form_problem(spec: ArksApplicationSpec) -> str | None:
    """What is wrong with the spec's PD form, naming the field (the CRD's PD_FORM_RULES, in Python)."""
    pd = spec.prefill is not None or spec.decode is not None
    if (spec.prefill is None) != (spec.decode is None):
        missing = "spec.decode" if spec.decode is None else "spec.prefill"
        return f"{missing}: prefill and decode go together: set both or neither"
    if spec.router is not None and not pd:
        return "spec.router: router is only for PD-separated serving (prefill and decode)"
    if not pd:
        return None
    given = spec.model_fields_set
    if spec.runtime == Runtime.VLLM:
        return "spec.runtime: PD-separated serving (prefill and decode) needs runtime sglang or dynamo"
    for name, field in (
        ("tensor_parallel_size", "tensorParallelSize"),
        ("extra_options", "extraOptions"),
        ("instance_spec", "instanceSpec"),
    ):
        if name in given and getattr(spec, name) not in (None, []):
            return f"spec.{field}: with prefill and decode, set {field} per role (spec.prefill, spec.decode)"
    if spec.replicas != 1:
        return "spec.replicas: with prefill and decode, scale prefill.replicas and decode.replicas instead"
    if spec.autoscaling is not None:
        return (
            "spec.autoscaling: with prefill and decode, set autoscaling per role "
            "(spec.prefill.autoscaling, spec.decode.autoscaling)"
        )
    prefill_scaling = spec.prefill.autoscaling if spec.prefill is not None else None
    if prefill_scaling is not None and prefill_scaling.slo.inter_token_latency is not None:
        return (
            "spec.prefill.autoscaling.slo.interTokenLatency: prefill is scaled on timeToFirstToken and its queue; "
            "set interTokenLatency in spec.decode.autoscaling.slo"
        )
    decode_scaling = spec.decode.autoscaling if spec.decode is not None else None
    if decode_scaling is not None and decode_scaling.slo.time_to_first_token is not None:
        return (
            "spec.decode.autoscaling.slo.timeToFirstToken: decode is scaled on interTokenLatency and KV-cache "
            "usage; set timeToFirstToken in spec.prefill.autoscaling.slo"
        )
    return None


class ScaleDecisionStatus(ApiModel):
    desired_replicas: int
    direction: str = Field(description="Up, Down or Hold.")
    reason: str
    message: str = ""
    time: datetime | None = None


class RoleAutoscalingStatus(ApiModel):
    """The slo-scaler's decision for one role of PD-separated serving (the aggregated shape, per role)."""

    desired_replicas: int | None = Field(
        default=None,
        description="The replica groups of this role the deployer applies while the role's autoscaling is on "
        "(within its minReplicas..maxReplicas).",
    )
    last_scale_time: datetime | None = None
    last_decision: ScaleDecisionStatus | None = None


class AutoscalingStatus(ApiModel):
    desired_replicas: int | None = Field(
        default=None,
        description="The slo-scaler's decision, kept here so it outlives any message: the replica groups the "
        "deployer applies while autoscaling is on (within minReplicas..maxReplicas).",
    )
    last_scale_time: datetime | None = None
    last_decision: ScaleDecisionStatus | None = None
    prefill: RoleAutoscalingStatus | None = Field(
        default=None, description="PD-separated serving: the decision for the prefill role."
    )
    decode: RoleAutoscalingStatus | None = Field(
        default=None, description="PD-separated serving: the decision for the decode role."
    )


class RoleStatus(ApiModel):
    """Replica groups of one role of the application (`serve`, or `prefill`/`decode` when PD-separated)."""

    name: str
    desired_replicas: int = Field(default=0, description="Replica groups the deployer asked for.")
    replicas: int = 0
    ready_replicas: int = Field(default=0, description="Groups with every pod Ready.")
    updated_replicas: int = Field(default=0, description="Groups on the current plan.")


class ArksApplicationStatus(ApiModel):
    phase: Phase = Phase.PENDING
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    observed_generation: int = 0
    selector: str | None = Field(default=None, description="Label selector of the pods (the scale subresource).")
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    autoscaling: AutoscalingStatus | None = None
    roles: list[RoleStatus] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


class ArksApplication(ApiModel):
    """An LLM inference service: a model served by a runtime on replica groups of one or more nodes."""

    api_version: str = "arks.ai/v1"
    kind: str = "ArksApplication"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ArksApplicationSpec
    status: ArksApplicationStatus = Field(default_factory=ArksApplicationStatus)
