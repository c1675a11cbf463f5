"""ArksEndpoint: one OpenAI-compatible endpoint in front of every application of a namespace that serves a model
(or, in its multi-model form, every model of the namespace), and its status."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from arks_common.api.meta import ApiModel, Condition, ObjectMeta, Quantity, cel, cel_on_create

OBJECT_PREFIX = "arks-endpoint-"
"""The router's Deployment, Service, ServiceAccount, Role, RoleBinding (and HTTPRoute) are `arks-endpoint-<name>`."""
NAME_MAX_LENGTH = 63 - len(OBJECT_PREFIX)
"""49: the router's Service name (`arks-endpoint-<name>`) must be a DNS label of at most 63 characters, and the
endpoint's name is also a label value (`arks.ai/endpoint`) and a label key's name part (`endpoint.arks.ai/<name>`)."""
ROUTER_METRICS_PORT = 29000
"""smg's Prometheus port (`--prometheus-port`, 1.13.0 default 29000), also the router Service's `metrics` port, so
no `spec.port` of its own."""


class EndpointConditionType(StrEnum):
    READY = "Ready"
    """True when the router is applied (`RouterApplied`) and at least one ready backend (a pod its router selects)
    is behind the endpoint."""
    GATEWAY_ROUTE = "GatewayRoute"
    """With spec.gateway: True when the API server took the endpoint's HTTPRoute, False naming why it refused it."""
    ROUTER_APPLIED = "RouterApplied"
    """True when the API server holds the router's objects of the newest plan (Deployment, Service, account,
    role and binding), False naming the object and why not."""


class EndpointReadyReason(StrEnum):
    BACKENDS_READY = "BackendsReady"
    NO_READY_BACKEND = "NoReadyBackend"
    """Applications are behind the endpoint, none with a ready backend."""
    NO_APPLICATION = "NoApplication"
    ROUTER_NOT_APPLIED = "RouterNotApplied"
    """Backends are ready, but the router is not (yet) what the API server holds: `RouterApplied` says why."""


class RouterAppliedReason(StrEnum):
    APPLIED = "Applied"
    PENDING = "Pending"
    """No plan of this endpoint yet (the planner has not planned it, or cannot: its Events say why)."""
    REFUSED = "Refused"
    """The API server refused an object for good (400/422, an admission webhook's denial): only a change helps."""
    FORBIDDEN = "Forbidden"
    """The API server forbade an object (403: a quota, a namespace being deleted, missing RBAC)."""
    HELD_BY_OTHERS = "HeldByOthers"
    """An object of the router's name exists and is not this endpoint's: never taken over."""


# The Gateway API's own patterns (sigs.k8s.io/gateway-api v1.6.3, apis/v1/shared_types.go), so a bad reference is
# refused on the ArksEndpoint itself rather than later on its route.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SECTION_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"


class RouterPolicy(StrEnum):
    """The router's balancing policies Arks offers (smg 1.13.0 `--policy`)."""

    POWER_OF_TWO = "power_of_two"
    """Load-aware (the default): of two workers, the one with fewer requests in flight, so faster GPUs take more."""
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    CACHE_AWARE = "cache_aware"
    """Prefers a worker that already holds the prompt's prefix, within load bounds."""


class RouterResources(ApiModel):
    """The router container's resources, as in a pod: quantities such as `1`, `"500m"`, `"256Mi"`."""

    limits: dict[str, Quantity] = Field(default_factory=dict)
    requests: dict[str, Quantity] = Field(default_factory=dict)

    def to_container(self) -> dict[str, dict[str, int | str]]:
        """The container's `resources`, only the maps that are set."""
        return {k: dict(v) for k, v in (("limits", self.limits), ("requests", self.requests)) if v}


class RouterSpec(ApiModel):
    replicas: int = Field(default=1, ge=1, le=100, description="Router pods; each discovers the backends itself.")
    image: str | None = Field(default=None, description="The router image; defaults to the installation's.")
    policy: RouterPolicy = Field(default=RouterPolicy.POWER_OF_TWO, description="How requests are balanced.")
    resources: RouterResources | None = Field(
        default=None, description="The router container's resource requests and limits."
    )


class GatewayParentRef(ApiModel):
    """A Gateway (or one of its listeners) the endpoint's route attaches to: Gateway API `ParentReference`."""

    name: str = Field(min_length=1, max_length=253, description="The Gateway's name.")
    namespace: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
        description="The Gateway's namespace; defaults to the endpoint's. Its listener must allow routes from the "
        "endpoint's namespace (allowedRoutes).",
    )
    section_name: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=SECTION_NAME, description="One listener of the Gateway."
    )
    port: int | None = Field(default=None, ge=1, le=65535, description="The listeners on this port only.")


class GatewayRouteSpec(ApiModel):
    """Expose the endpoint through a Gateway API gateway the cluster already runs: Arks emits an HTTPRoute that
    sends the gateway's matching traffic to the endpoint's router (which still routes by model and load)."""

    parent_refs: list[GatewayParentRef] = Field(
        min_length=1, max_length=32, description="The Gateways (or listeners) the route attaches to."
    )
    hostnames: list[Annotated[str, Field(min_length=1, max_length=253, pattern=HOSTNAME)]] = Field(
        default_factory=list,
        max_length=16,
        description="Host names the route matches (e.g. `qwen.example.com`); every host of the listener if empty.",
    )
    path_prefix: str = Field(
        default="/",
        min_length=1,
        max_length=1024,
        pattern=r"^/",
        description="The path prefix the route matches; the request goes to the router with its path unchanged.",
    )
    request_timeout: str | None = Field(
        default=None,
        pattern=DURATION,
        description="The gateway's timeout for a whole request (Gateway API duration, e.g. `300s`; `0s` turns it "
        "off); the gateway's own default if unset (some default to 15 s, short for long generations).",
    )


class ArksEndpointSpec(ApiModel):
    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    "!(has(self.allModels) && self.allModels && has(self.servedModelName))",
                    "servedModelName and allModels exclude each other: name one model, or serve them all",
                    ".servedModelName",
                ),
                cel(
                    f"!has(self.port) || self.port != {ROUTER_METRICS_PORT}",
                    f"port {ROUTER_METRICS_PORT} is the router Service's metrics port: choose another",
                    ".port",
                ),
            ]
        }
    }

    served_model_name: str | None = Field(
        default=None,
        description="The model name clients send in `model`; every application in the namespace whose served model "
        "name is this one is a backend. Defaults to the endpoint's name. Not with allModels.",
    )
    all_models: bool = Field(
        default=False,
        description="Serve every model of the namespace's applications on this one endpoint (multi-model form); "
        "requests go to the applications of the model each request names.",
    )
    applications: list[Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Only these applications of the namespace (by name) are behind the endpoint, among those "
        "serving its model (any model with allModels); every one that serves it if unset.",
    )
    port: int = Field(default=8080, ge=1, le=65535, description="The port of the endpoint's Service.")
    router: RouterSpec = Field(default_factory=RouterSpec)
    gateway: GatewayRouteSpec | None = Field(
        default=None,
        description="Also expose the endpoint through an existing Gateway API gateway (an HTTPRoute to the router).",
    )

    @model_validator(mode="after")
    def _one_form(self) -> ArksEndpointSpec:
        if self.all_models and self.served_model_name:
            raise ValueError("servedModelName and allModels exclude each other: name one model, or serve them all")
        return self


class ArksEndpointStatus(ApiModel):
    observed_generation: int = 0
    model: str = Field(
        default="",
        description="The served model name (its first 255 characters and `…` when longer than 256); `*` for the "
        "multi-model form.",
    )
    served_models: list[str] = Field(
        default_factory=list,
        description="The models served behind the endpoint (those its router's pods carry; for an application none "
        "of whose pods it selects yet, its newest spec's), sorted; the first 1000 (at most 65536 characters).",
    )
    served_model_count: int = Field(default=0, description="How many models are served behind the endpoint.")
    applications: list[str] = Field(
        default_factory=list,
        description="The applications behind the endpoint (whose spec it selects, or whose pods its router still "
        "selects), sorted; the first 1000 (at most 65536 characters).",
    )
    application_count: int = Field(default=0, description="How many applications are behind the endpoint.")
    applications_text: str = Field(
        default="", description="The first ten applications, comma-separated, and how many more (a printer column)."
    )
    ready_backends: int = Field(
        default=0,
        description="Ready backends: the Ready pods the router's selector matches (a group's leader; a PD "
        "application's router, when the application is Ready).",
    )
    url: str = Field(default="", description="The endpoint's in-cluster base URL.")
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


class ArksEndpoint(ApiModel):
    """One OpenAI endpoint routing on the request's model to every application of the namespace that serves it."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                # the API server checks an ArksEndpoint's name as a DNS subdomain (labels joined by dots, 253
                # characters); without a dot it is one DNS label, what the names derived from it need
                cel_on_create(
                    f"self.metadata.name.size() <= {NAME_MAX_LENGTH} && !self.metadata.name.contains('.')",
                    f"metadata.name must be a DNS label of at most {NAME_MAX_LENGTH} characters (lower case letters, "
                    "digits and '-', no dots), as the router's Service is named arks-endpoint-<name> (at most 63): "
                    "e.g. qwen2-5-7b-instruct for qwen2.5-7b-instruct, with servedModelName: qwen2.5-7b-instruct",
                )
            ]
        }
    }

    api_version: str = "arks.ai/v1"
    kind: str = "ArksEndpoint"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ArksEndpointSpec = Field(default_factory=ArksEndpointSpec)
    status: ArksEndpointStatus = Field(default_factory=ArksEndpointStatus)

    def served_model(self) -> str | None:
        """The one model this endpoint serves, or None for the multi-model form."""
        if self.spec.all_models:
            return None
        return self.spec.served_model_name or self.metadata.name
