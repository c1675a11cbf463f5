"""An ArksEndpoint's explicit application list (spec.applications): the selection, the router's selector, and
which live backend pods the deployer labels as members."""

from __future__ import annotations

from typing import Any

import pytest

from arks_common.api import ArksApplication, ArksEndpoint
from arks_common.crdgen import ENDPOINT_CRD
from arks_common.endpoints import endpoint_status, may_select, selected_applications
from arks_deployer.core.membership import member_label_changes
from arks_planner.core.endpoint import backend_selector
from support.builders import sample, vllm_app
from support.crd_validation import validate

KEY = "endpoint.arks.ai/picked"


def app(name: str, served: str) -> ArksApplication:
    doc = vllm_app()
    doc["metadata"] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    doc["spec"]["servedModelName"] = served
    return ArksApplication.model_validate(doc)


def endpoint(**spec: Any) -> ArksEndpoint:
    return ArksEndpoint.model_validate({"metadata": {"name": "picked", "namespace": "default"}, "spec": spec})


def pod(name: str, application: str, member: bool = False, deleting: bool = False) -> dict[str, Any]:
    labels = {"arks.ai/application": application, "arks.ai/endpoint-backend": "true"}
    if member:
        labels[KEY] = "true"
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    return {"metadata": meta}


APPS = [app("a-h100", "qwen"), app("a-l40s", "qwen"), app("b", "other")]


@pytest.mark.parametrize(
    ("spec", "behind"),
    [
        pytest.param({"servedModelName": "qwen"}, ["a-h100", "a-l40s"], id="no list: every application of the model"),
        pytest.param({"servedModelName": "qwen", "applications": ["a-h100"]}, ["a-h100"], id="the listed one"),
        pytest.param(
            {"servedModelName": "qwen", "applications": ["a-h100", "b"]}, ["a-h100"], id="listed but another model"
        ),
        pytest.param({"allModels": True, "applications": ["a-l40s", "b"]}, ["a-l40s", "b"], id="all models, listed"),
        pytest.param({"servedModelName": "qwen", "applications": ["nobody"]}, [], id="listed but missing"),
    ],
)
def test_selection_follows_the_list(spec: dict[str, Any], behind: list[str]) -> None:
    assert [a.metadata.name for a in selected_applications(endpoint(**spec), APPS)] == behind


def test_router_selects_the_member_label_only_with_a_list() -> None:
    assert KEY not in backend_selector(endpoint(servedModelName="qwen"))
    assert backend_selector(endpoint(servedModelName="qwen", applications=["a-h100"]))[KEY] == "true"


def test_member_labels_go_on_listed_backends_and_off_the_others() -> None:
    pods = [
        pod("a-h100-0", "a-h100"),
        pod("a-h100-1", "a-h100", member=True),
        pod("a-l40s-0", "a-l40s", member=True),
        pod("b-0", "b"),
        pod("a-h100-2", "a-h100", deleting=True),
    ]
    assert member_label_changes("picked", {"a-h100"}, pods) == {"a-h100-0": "true", "a-l40s-0": None}
    assert member_label_changes("picked", set(), pods) == {"a-h100-1": None, "a-l40s-0": None}


@pytest.mark.parametrize(
    "applications",
    [pytest.param([], id="empty"), pytest.param(["A"], id="not a name")],
)
def test_crd_refuses_a_bad_list_naming_the_field(applications: list[str]) -> None:
    """(A name listed twice is refused by the API server's list-type `set`: the e2e test checks it.)"""
    obj = {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksEndpoint",
        "metadata": {"name": "e"},
        "spec": {"applications": applications},
    }
    errors = validate(ENDPOINT_CRD.to_k8s(), obj)
    assert any("spec.applications" in e for e in errors), errors


def test_the_list_sample_passes_the_crd_and_the_model() -> None:
    doc = sample("endpoint-list.yaml")
    assert validate(ENDPOINT_CRD.to_k8s(), doc) == []
    assert ArksEndpoint.model_validate(doc).spec.applications == ["qwen-h100", "qwen-l40s"]


def raw_app(name: str, served: str | None, model: str = "qwen-7b") -> dict[str, Any]:
    doc = vllm_app()
    doc["metadata"] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    doc["spec"]["model"] = {"name": model}
    if served is None:
        doc["spec"].pop("servedModelName", None)
    else:
        doc["spec"]["servedModelName"] = served
    return doc


RAW = [
    raw_app("a", "qwen"),
    raw_app("b", "other"),
    raw_app("c", None, model="qwen"),  # served under its model's name
    raw_app("d", "", model="qwen"),  # an empty served name is the model's name too
    raw_app("e", None, model="other"),
]
SPECS = [
    {"servedModelName": "qwen"},
    {"servedModelName": "qwen", "applications": ["a", "b", "e"]},
    {"allModels": True, "applications": ["c", "nobody"]},
    {"allModels": True},
]


@pytest.mark.parametrize("spec", SPECS)
def test_the_look_before_parsing_passes_every_application_the_selection_takes_and_drops_others(
    spec: dict[str, Any],
) -> None:
    picked = endpoint(**spec)
    passed = [r["metadata"]["name"] for r in RAW if may_select(picked, r)]
    behind = [a.metadata.name for a in selected_applications(picked, [ArksApplication.model_validate(r) for r in RAW])]
    assert passed == behind


def test_the_look_before_parsing_passes_what_it_cannot_read() -> None:
    broken = raw_app("a", "qwen")
    broken["spec"]["servedModelName"] = 7
    assert may_select(endpoint(servedModelName="qwen"), broken)
    assert may_select(endpoint(servedModelName="qwen"), {"metadata": "x", "spec": {}})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"servedModelName": "qwen", "applications": ["a-h10o"]},
            "none of the applications listed in spec.applications (a-h10o) serves the model 'qwen' in namespace "
            "default",
            id="a misspelt name, while a-h100 and a-l40s serve qwen",
        ),
        pytest.param(
            {"servedModelName": "qwen", "applications": ["b"]},
            "none of the applications listed in spec.applications (b) serves the model 'qwen' in namespace default",
            id="the listed one serves another model",
        ),
        pytest.param(
            {"allModels": True, "applications": [f"x-{i:02d}" for i in range(64)]},
            "none of the applications listed in spec.applications (x-00, x-01, x-02, x-03, x-04, x-05, x-06, x-07, "
            "x-08, x-09 and 54 more) exists in namespace default",
            id="all models, 64 listed, none there",
        ),
        pytest.param(
            {"servedModelName": "nobody"},
            "no application in namespace default serves the model 'nobody'",
            id="no list: the namespace",
        ),
    ],
)
def test_no_application_blames_the_list_when_there_is_one(spec: dict[str, Any], message: str) -> None:
    ready = endpoint_status(endpoint(**spec), APPS, []).condition("Ready")
    assert ready is not None
    assert (ready.reason, ready.message) == ("NoApplication", message)
