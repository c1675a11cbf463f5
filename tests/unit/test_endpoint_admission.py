"""What the ArksEndpoint CRD refuses so that every object the planner derives is one the API server takes: names
(the router's Service is `arks-endpoint-<name>`, a DNS label of at most 63), the port the router Service keeps
for metrics, resource quantities; and what it takes as Kubernetes does (an integer quantity)."""

from __future__ import annotations

from typing import Any

import pytest

from arks_common.api import ArksEndpoint
from arks_common.crdgen import ENDPOINT_CRD
from arks_planner.core.endpoint import build_endpoint_plan
from support.crd_validation import validate
from support.endpoint_fakes import ROUTER, api_server_causes, endpoint_doc


def crd_errors(name: str = "qwen", **spec: Any) -> list[str]:
    return validate(ENDPOINT_CRD.to_k8s(), endpoint_doc(name, **spec))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("qwen2.5-7b-instruct", id="a dot, as in a model's version"),
        pytest.param("llama-3.1-8b", id="another dot"),
        pytest.param("a" * 50, id="50 characters: the Service name would be 64"),
    ],
)
def test_a_name_no_router_service_can_carry_is_refused_naming_metadata_name(name: str) -> None:
    errors = crd_errors(name)
    assert any("metadata.name must be a DNS label of at most 49 characters" in e for e in errors), errors


@pytest.mark.parametrize("name", ["qwen2-5-7b-instruct", "a" * 49, "7b"])
def test_the_longest_accepted_name_makes_objects_the_api_server_takes(name: str) -> None:
    assert crd_errors(name) == []
    doc = endpoint_doc(name, applications=["qwen-h100"], gateway={"parentRefs": [{"name": "shared"}]})
    objects = build_endpoint_plan(ArksEndpoint.model_validate(doc), ROUTER).objects
    assert [cause for obj in objects for cause in api_server_causes(obj)] == []
    assert {o["metadata"]["name"] for o in objects} == {f"arks-endpoint-{name}"}


def test_the_router_services_metrics_port_is_refused_as_spec_port() -> None:
    errors = crd_errors(port=29000)
    assert any(e.startswith("spec.port: ") and "metrics port" in e for e in errors), errors
    assert crd_errors(port=29001) == []


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        pytest.param({"limits": {"cpu": "lots"}}, "spec.router.resources.limits.cpu", id="not a quantity"),
        pytest.param({"requests": {"memory": "1 Gi"}}, "spec.router.resources.requests.memory", id="a space"),
        pytest.param({"limits": {"cpu": 1.5}}, "spec.router.resources.limits.cpu", id="a float, not a string"),
    ],
)
def test_a_bad_quantity_is_refused_naming_the_field(resources: dict[str, Any], field: str) -> None:
    errors = crd_errors(router={"resources": resources})
    assert any(e.startswith(field) for e in errors), errors


def test_quantities_are_taken_as_kubernetes_takes_them_and_reach_the_router() -> None:
    resources = {"limits": {"cpu": 1, "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "1e8"}}
    assert crd_errors(router={"resources": resources}) == []
    endpoint = ArksEndpoint.model_validate(endpoint_doc("qwen", router={"resources": resources}))
    deployment = next(o for o in build_endpoint_plan(endpoint, ROUTER).objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"] == resources
    assert api_server_causes(deployment) == []


def test_a_router_without_resources_sets_none() -> None:
    endpoint = ArksEndpoint.model_validate(endpoint_doc("qwen", router={"resources": {}}))
    deployment = next(o for o in build_endpoint_plan(endpoint, ROUTER).objects if o["kind"] == "Deployment")
    assert "resources" not in deployment["spec"]["template"]["spec"]["containers"][0]
