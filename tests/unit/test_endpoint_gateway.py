"""An ArksEndpoint's optional Gateway API route: what the planner emits, what the CRD refuses, and the
`GatewayRoute` condition the deployer reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from arks_common.api import ArksEndpoint
from arks_common.api.meta import ConditionStatus
from arks_common.crdgen import ENDPOINT_CRD
from arks_common.endpoints import RouteOutcome, endpoint_status
from arks_planner.core.endpoint import RouterSettings, build_endpoint_plan
from support.crd_validation import validate

SETTINGS = RouterSettings(image="registry.example/smg:1.13.0", backend_port=8080)
GATEWAY = {"parentRefs": [{"name": "shared", "namespace": "infra", "sectionName": "https"}]}
SAMPLES = Path(__file__).parents[2] / "deploy" / "samples"


def endpoint(**spec: Any) -> ArksEndpoint:
    return ArksEndpoint.model_validate(
        {"metadata": {"name": "model-a", "namespace": "default", "uid": "uid-ep", "generation": 2}, "spec": spec}
    )


def route_of(ep: ArksEndpoint) -> dict[str, Any]:
    routes = [o for o in build_endpoint_plan(ep, SETTINGS).objects if o["kind"] == "HTTPRoute"]
    assert len(routes) == 1
    return routes[0]


def test_without_gateway_no_route_is_planned() -> None:
    assert "HTTPRoute" not in {o["kind"] for o in build_endpoint_plan(endpoint(), SETTINGS).objects}


def test_route_sends_the_gateway_traffic_to_the_router_service() -> None:
    route = route_of(endpoint(port=9000, gateway=GATEWAY))
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["name"] == "arks-endpoint-model-a"
    assert route["metadata"]["ownerReferences"][0]["uid"] == "uid-ep"
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "shared",
            "namespace": "infra",
            "sectionName": "https",
        }
    ]
    assert "hostnames" not in route["spec"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule["backendRefs"] == [{"kind": "Service", "name": "arks-endpoint-model-a", "port": 9000}]
    assert "timeouts" not in rule


def test_route_carries_hostnames_path_port_and_timeout() -> None:
    gateway = {
        "parentRefs": [{"name": "shared", "port": 443}],
        "hostnames": ["qwen.example.com", "*.llm.example.com"],
        "pathPrefix": "/qwen",
        "requestTimeout": "600s",
    }
    route = route_of(endpoint(allModels=True, gateway=gateway))
    assert route["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shared", "port": 443}
    ]
    assert route["spec"]["hostnames"] == ["qwen.example.com", "*.llm.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"][0]["path"]["value"] == "/qwen"
    assert rule["timeouts"] == {"request": "600s"}


def test_gateway_changes_the_plan_hash() -> None:
    plain = build_endpoint_plan(endpoint(), SETTINGS)
    routed = build_endpoint_plan(endpoint(gateway=GATEWAY), SETTINGS)
    assert plain.plan_hash != routed.plan_hash
    assert all(o["metadata"]["annotations"]["arks.ai/plan-hash"] == routed.plan_hash for o in routed.objects)


def crd_errors(gateway: dict[str, Any]) -> list[str]:
    obj = {"apiVersion": "arks.ai/v1", "kind": "ArksEndpoint", "metadata": {"name": "e"}, "spec": {"gateway": gateway}}
    return validate(ENDPOINT_CRD.to_k8s(), obj)


@pytest.mark.parametrize(
    ("gateway", "field"),
    [
        pytest.param({"parentRefs": []}, "spec.gateway.parentRefs", id="no parent gateway"),
        pytest.param({}, "spec.gateway", id="parentRefs missing"),
        pytest.param({"parentRefs": [{"name": "g", "namespace": "Infra"}]}, "parentRefs[0].namespace", id="bad ns"),
        pytest.param({"parentRefs": [{"name": "g"}], "hostnames": ["Qwen.Example.com"]}, "hostnames[0]", id="host"),
        pytest.param({"parentRefs": [{"name": "g"}], "hostnames": ["a.*.com"]}, "hostnames[0]", id="inner wildcard"),
        pytest.param({"parentRefs": [{"name": "g"}], "pathPrefix": "qwen"}, "pathPrefix", id="relative path"),
        pytest.param({"parentRefs": [{"name": "g"}], "requestTimeout": "10 minutes"}, "requestTimeout", id="timeout"),
    ],
)
def test_crd_refuses_a_bad_gateway_naming_the_field(gateway: dict[str, Any], field: str) -> None:
    errors = crd_errors(gateway)
    assert any(field in e for e in errors), errors


def test_crd_accepts_the_gateway_sample() -> None:
    doc = yaml.safe_load((SAMPLES / "endpoint-gateway.yaml").read_text())
    assert validate(ENDPOINT_CRD.to_k8s(), doc) == []
    assert ArksEndpoint.model_validate(doc).spec.gateway is not None


def test_route_condition_follows_the_apply() -> None:
    ep = endpoint(gateway=GATEWAY)
    pending = endpoint_status(ep, [], []).condition("GatewayRoute")
    applied = endpoint_status(ep, [], [], RouteOutcome(applied=True)).condition("GatewayRoute")
    refusal = RouteOutcome(refusal="spec.rules[0]: Invalid value")
    refused = endpoint_status(ep, [], [], refusal).condition("GatewayRoute")
    assert pending is not None
    assert applied is not None
    assert refused is not None
    assert (pending.status, pending.reason) == (ConditionStatus.FALSE, "Pending")
    assert (applied.status, applied.reason, applied.observed_generation) == (ConditionStatus.TRUE, "Applied", 2)
    assert (refused.status, refused.reason, refused.message) == (
        ConditionStatus.FALSE,
        "Refused",
        "spec.rules[0]: Invalid value",
    )


def test_no_route_condition_without_gateway() -> None:
    assert endpoint_status(endpoint(), [], [], RouteOutcome(applied=True)).condition("GatewayRoute") is None
