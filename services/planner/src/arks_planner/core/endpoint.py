"""The plan of one ArksEndpoint: the router that serves it (ServiceAccount, Role and RoleBinding for pod
discovery, Deployment, Service) and, with spec.gateway, a Gateway API HTTPRoute to it. Which applications are
behind it and its status: `arks_common.endpoints`. Pure.

The router is smg (Shepherd Model Gateway, PyPI `smg` 1.13.0) in its multi-model mode (`--enable-igw`): it
discovers the leader pods of the applications by label in the endpoint's namespace, learns each one's model
from its `/v1/models`, routes every request by its `model` to the pods serving it, and answers an unknown model
with 404. Flags and paths below are from `smg launch --help` of 1.13.0.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from arks_common.api.endpoint import ROUTER_METRICS_PORT, ArksEndpoint, GatewayRouteSpec, RouterPolicy
from arks_common.api.meta import API_VERSION
from arks_common.conventions import (
    ENDPOINT_KIND,
    LABEL_COMPONENT,
    LABEL_ENDPOINT,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    PLAN_HASH_ANNOTATION,
    endpoint_object_name,
    owner_reference,
)
from arks_common.endpoints import backend_selector as backend_selector  # the router selects by it; re-exported
from arks_planner.core.pod_reader import pod_reader
from arks_planner.core.profiles import RuntimeProfiles

ROLE_ROUTER = "router"
ROUTER_CONTAINER = "router"
ROUTER_PORT = 8080
"""The router's HTTP port in its pod (smg `--port`)."""
ROUTER_HEALTH_PORT = 8081
"""smg `--health-check-port`: probes are answered by a runtime of their own, so load cannot starve them."""
LOAD_METRIC = "least_requests"
"""power_of_two compares requests in flight. Measured on loopback against a backend twice as slow as the other,
1,000 requests at concurrency 32: least_requests sent 632/368 (ideal 667/333); smg's default expected_wait sent
505/495, as it waits for engine metrics the router polls every 10 s (`--load-monitor-interval`)."""

Obj = dict[str, Any]


class EndpointPlanError(ValueError):
    """The endpoint cannot be planned (bad settings); the message names what to change."""


@dataclass(frozen=True)
class RouterSettings:
    image: str
    """An image with `smg` 1.13.0 on its PATH (see docs/endpoints.md)."""
    backend_port: int
    """The port of the applications' leader pods (the runtime profiles' `port`)."""
    port_problem: str | None = None
    """Set when the enabled runtimes listen on different ports (`backend_port`): told on each endpoint planned."""


@dataclass(frozen=True)
class EndpointPlan:
    objects: list[Obj]
    """ServiceAccount, Role, RoleBinding, Deployment, Service (and the HTTPRoute): ready for server-side apply."""
    plan_hash: str


def backend_port(profiles: RuntimeProfiles) -> tuple[int, str | None]:
    """The port the router discovers every backend on (smg `--service-discovery-port`: one port for all): the
    enabled runtimes' (8080 as shipped), and what is wrong when an installation's profiles make them listen on
    different ports (the lowest is taken, and the router sends the others' requests to a port nothing listens on:
    told at the planner's start and on each endpoint it plans, not a refusal to start, as applications need no
    router)."""
    ports = {
        name if backend is None else f"{name}.backends.{backend}": profile.port
        for name, runtime in sorted(profiles.runtimes.items())
        for backend, profile in ((None, runtime), *sorted(runtime.backends.items()))
        if profile.enabled and runtime.enabled
    }
    port = min(ports.values(), default=8080)  # no runtime enabled: nothing to find; the shipped port
    if len(set(ports.values())) <= 1:
        return port, None
    listed = ", ".join(f"{name} {p}" for name, p in ports.items())
    return port, (
        f"runtime profiles: the enabled runtimes listen on different ports ({listed}), but an ArksEndpoint's router "
        f"finds every backend on one port ({port}): give them the same port, or disable a runtime (enabled: false)"
    )


def router_args(endpoint: ArksEndpoint, backend_port: int) -> list[str]:
    """The `smg launch` arguments that serve the endpoint from pods found in its namespace."""
    selector = [f"{k}={v}" for k, v in sorted(backend_selector(endpoint).items())]
    return [
        *policy_args(endpoint.spec.router.policy),
        "--host",
        "0.0.0.0",
        "--port",
        str(ROUTER_PORT),
        "--health-check-port",
        str(ROUTER_HEALTH_PORT),
        "--prometheus-port",
        str(ROUTER_METRICS_PORT),
        "--service-discovery",
        "--selector",
        *selector,
        "--service-discovery-namespace",
        endpoint.metadata.namespace,
        "--service-discovery-port",
        str(backend_port),
        "--log-json",
    ]


def policy_args(policy: RouterPolicy) -> list[str]:
    """Routing by model over several worker sets (`--enable-igw`) and the balancing policy."""
    args = ["--enable-igw", "--policy", policy.value]
    if policy is RouterPolicy.POWER_OF_TWO:
        args += ["--power-of-two-load-metric", LOAD_METRIC]
    return args


def discovery_manifest(worker_urls: list[str]) -> str:
    """smg's file discovery manifest (`--discovery-provider file --discovery-file`, 1.13.0): the static form of
    the backends, for a router outside the cluster network (the local test's, whose pods have no real IPs)."""
    return json.dumps({"version": 1, "workers": [{"url": u} for u in worker_urls]}, indent=2)


def _metadata(endpoint: ArksEndpoint) -> Obj:
    labels = {
        LABEL_ENDPOINT: endpoint.metadata.name,
        LABEL_COMPONENT: ROLE_ROUTER,
        LABEL_MANAGED_BY: MANAGED_BY,
    }
    return {
        "name": endpoint_object_name(endpoint.metadata.name),
        "namespace": endpoint.metadata.namespace,
        "labels": labels,
    }


def _deployment(endpoint: ArksEndpoint, settings: RouterSettings) -> Obj:
    router = endpoint.spec.router
    pod_labels = {LABEL_ENDPOINT: endpoint.metadata.name, LABEL_COMPONENT: ROLE_ROUTER}
    container: Obj = {
        "name": ROUTER_CONTAINER,
        "image": router.image or settings.image,
        "command": ["smg", "launch"],
        "args": router_args(endpoint, settings.backend_port),
        "ports": [
            {"name": "http", "containerPort": ROUTER_PORT},
            {"name": "health", "containerPort": ROUTER_HEALTH_PORT},
            {"name": "metrics", "containerPort": ROUTER_METRICS_PORT},
        ],
        # smg's probe routes, served on the health port
        "readinessProbe": {"httpGet": {"path": "/readiness", "port": "health"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/liveness", "port": "health"}, "periodSeconds": 10},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }
    if router.resources is not None and router.resources.to_container():
        container["resources"] = router.resources.to_container()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(endpoint),
        "spec": {
            "replicas": router.replicas,
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": endpoint_object_name(endpoint.metadata.name),
                    "containers": [container],
                },
            },
        },
    }


def _service(endpoint: ArksEndpoint) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(endpoint),
        "spec": {
            "selector": {LABEL_ENDPOINT: endpoint.metadata.name, LABEL_COMPONENT: ROLE_ROUTER},
            "ports": [
                {"name": "http", "port": endpoint.spec.port, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": ROUTER_METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def _http_route(endpoint: ArksEndpoint, gateway: GatewayRouteSpec) -> Obj:
    """Gateway API HTTPRoute (v1, gateway-api 1.6.3 standard channel): the gateway's traffic under the path prefix
    to the router's Service, which still routes each request by its `model` and by load (a route cannot read the
    body, so it cannot choose the model's backends itself)."""
    parent_refs = []
    for ref in gateway.parent_refs:
        parent: Obj = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": ref.name}
        if ref.namespace:
            parent["namespace"] = ref.namespace
        if ref.section_name:
            parent["sectionName"] = ref.section_name
        if ref.port is not None:
            parent["port"] = ref.port
        parent_refs.append(parent)
    rule: Obj = {
        "matches": [{"path": {"type": "PathPrefix", "value": gateway.path_prefix}}],
        "backendRefs": [
            {"kind": "Service", "name": endpoint_object_name(endpoint.metadata.name), "port": endpoint.spec.port}
        ],
    }
    if gateway.request_timeout is not None:
        rule["timeouts"] = {"request": gateway.request_timeout}
    spec: Obj = {"parentRefs": parent_refs, "rules": [rule]}
    if gateway.hostnames:
        spec["hostnames"] = list(gateway.hostnames)
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _metadata(endpoint),
        "spec": spec,
    }


def build_endpoint_plan(endpoint: ArksEndpoint, settings: RouterSettings) -> EndpointPlan:
    """The objects `endpoint` becomes, each owned by it and stamped with the plan's hash."""
    if not (endpoint.spec.router.image or settings.image):
        raise EndpointPlanError("no router image: set spec.router.image or the planner's ARKS_ROUTER_IMAGE")
    objects = [*pod_reader(_metadata(endpoint)), _deployment(endpoint, settings), _service(endpoint)]
    if endpoint.spec.gateway is not None:
        objects.append(_http_route(endpoint, endpoint.spec.gateway))
    plan_hash = hashlib.sha256(json.dumps(objects, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    owner = owner_reference(API_VERSION, ENDPOINT_KIND, endpoint.metadata.name, endpoint.metadata.uid)
    for obj in objects:
        obj["metadata"]["ownerReferences"] = [owner]
        obj["metadata"]["annotations"] = {PLAN_HASH_ANNOTATION: plan_hash}
    return EndpointPlan(objects=objects, plan_hash=plan_hash)
