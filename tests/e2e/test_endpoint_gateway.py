"""An ArksEndpoint's Gateway API route on the local cluster, where the real Gateway API CRDs (sigs.k8s.io/gateway-api
v1.6.3, standard channel) are installed: the planner's HTTPRoute is accepted by the API server under their
schemas and CEL rules, one those rules refuse shows in the endpoint's `GatewayRoute` condition with the API
server's words, and the route goes when spec.gateway does. No gateway controller runs: this checks the objects,
not traffic through a gateway.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from arks_common.api import ArksEndpoint
from arks_planner.core.endpoint import RouterSettings, build_endpoint_plan
from arks_planner.settings import PlannerSettings
from support.builders import sample
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster

SETTINGS = RouterSettings(image=PlannerSettings.model_fields["router_image"].default, backend_port=8080)
"""The planner's defaults: the plan it publishes is this one."""
NAME = "qwen-7b-public"
ROUTE = f"arks-endpoint-{NAME}"


def route_condition(arks: Env, ns: str) -> dict[str, Any] | None:
    status = (arks.get("arksendpoint", NAME, ns) or {}).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == "GatewayRoute"), None)


def test_endpoint_route_is_accepted_by_the_gateway_api_crds_refused_visibly_and_removed(arks: Env, ns: str) -> None:
    established = arks.kubectl("get", "crd", "httproutes.gateway.networking.k8s.io", "-o", "json")
    assert json.loads(established)["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.6.3"

    arks.apply(ns, sample("endpoint-gateway.yaml"))
    route = wait_until(lambda: arks.get("httproute", ROUTE, ns), 60, "the endpoint's HTTPRoute")
    endpoint = ArksEndpoint.model_validate(arks.get("arksendpoint", NAME, ns))
    (planned,) = [o for o in build_endpoint_plan(endpoint, SETTINGS).objects if o["kind"] == "HTTPRoute"]
    assert route["spec"]["parentRefs"] == planned["spec"]["parentRefs"]
    assert route["spec"]["hostnames"] == ["qwen.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1"}}]
    assert rule["timeouts"] == {"request": "600s"}
    (backend,) = rule["backendRefs"]
    assert (backend["kind"], backend["name"], backend["port"]) == ("Service", ROUTE, 8080)
    assert arks.get("service", ROUTE, ns) is not None  # the router Service the route sends to
    assert route["metadata"]["ownerReferences"][0]["uid"] == endpoint.metadata.uid
    applied = wait_until(
        lambda: c if (c := route_condition(arks, ns)) and c["status"] == "True" else None, 60, "GatewayRoute True"
    )
    assert applied["reason"] == "Applied"

    # a path the Gateway API's CEL rules refuse (ours only ask for a leading slash): the endpoint says why
    patch = {"spec": {"gateway": {"pathPrefix": "/v1//chat"}}}
    arks.kubectl("patch", "arksendpoint", NAME, "-n", ns, "--type=merge", "-p", json.dumps(patch))
    refused = wait_until(
        lambda: c if (c := route_condition(arks, ns)) and c["reason"] == "Refused" else None, 60, "GatewayRoute Refused"
    )
    assert refused["status"] == "False"
    assert "HTTPRoute" in refused["message"]
    assert "spec.rules[0].matches[0].path" in refused["message"]
    assert "must not contain '//'" in refused["message"]
    still = arks.get("httproute", ROUTE, ns)
    assert still is not None
    assert still["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/v1"  # the last accepted route stays

    # the ArksEndpoint's own schema refuses what it can check, naming the field
    bad_host = {"spec": {"gateway": {"hostnames": ["Qwen.Example.com"]}}}
    proc = arks.cluster.kubectl(
        "patch", "arksendpoint", NAME, "-n", ns, "--type=merge", "-p", json.dumps(bad_host), check=False
    )
    assert proc.returncode != 0
    assert "spec.gateway.hostnames[0]" in proc.stderr

    # spec.gateway removed: the route goes, and so does its condition
    arks.kubectl("patch", "arksendpoint", NAME, "-n", ns, "--type=merge", "-p", '{"spec": {"gateway": null}}')
    wait_until(lambda: arks.get("httproute", ROUTE, ns) is None or None, 60, "the HTTPRoute to be removed")
    wait_until(lambda: route_condition(arks, ns) is None or None, 60, "the GatewayRoute condition to go")
    assert arks.get("deployment", ROUTE, ns) is not None  # the router stays
