"""An endpoint's ready backends are the Ready pods its router's selector matches now, not an application's ready
replica count: after a change of an application's served model the two differ (groups restart with the new labels
one by one, or never when the new generation fails its checks), and the router follows the pods' labels."""

from __future__ import annotations

from typing import Any

import pytest

from arks_common.api import ArksApplication, ArksEndpoint
from arks_common.endpoints import RouterOutcome, endpoint_status
from arks_deployer.endpoints import EndpointReconciler
from support.endpoint_fakes import ApiServer, Plans, app_doc, endpoint_doc, leader_pod


def application(name: str, served: str, ready: int, **meta: Any) -> ArksApplication:
    doc = app_doc(name, served, ready)
    doc["metadata"] |= meta
    return ArksApplication.model_validate(doc)


def endpoint(name: str, **spec: Any) -> ArksEndpoint:
    return ArksEndpoint.model_validate(endpoint_doc(name, **spec))


def moved_to_a_model_whose_check_failed() -> dict[str, Any]:
    """Generation 2 serves qwen-14b, an ArksModel that does not exist: its precheck failed, so generation 1's group
    (qwen-7b) keeps serving and the deployer reports it Ready, 1 ready group, 'on the previous generation'."""
    doc = app_doc("qwen-h100", "qwen-14b", ready=1)
    doc["metadata"]["generation"] = 2
    doc["status"] |= {"phase": "Failed", "observedGeneration": 2}
    return doc


def test_after_a_failed_model_change_the_old_models_endpoint_keeps_the_backend_the_new_ones_has_none() -> None:
    apps = [ArksApplication.model_validate(moved_to_a_model_whose_check_failed())]
    pods = [leader_pod("qwen-h100", "qwen-7b")]  # generation 1's leader, still serving qwen-7b
    applied = RouterOutcome(planned=True)
    new = endpoint_status(endpoint("qwen-14b"), apps, pods, router=applied)
    old = endpoint_status(endpoint("qwen-7b"), apps, pods, router=applied)
    new_ready, old_ready = new.condition("Ready"), old.condition("Ready")
    assert new_ready is not None
    assert old_ready is not None
    assert (new.ready_backends, new_ready.status, new_ready.reason) == (0, "False", "NoReadyBackend")
    assert new.applications == ["qwen-h100"]  # its spec names the model: behind it, with no ready backend
    assert (old.ready_backends, old_ready.status, old_ready.reason) == (1, "True", "BackendsReady")
    assert old.applications == ["qwen-h100"]  # its router still sends qwen-7b requests there


def test_after_a_failed_model_change_each_endpoint_lists_the_model_its_router_meets_there() -> None:
    apps = [ArksApplication.model_validate(moved_to_a_model_whose_check_failed())]
    pods = [leader_pod("qwen-h100", "qwen-7b")]  # generation 1's leader, still serving qwen-7b
    old = endpoint_status(endpoint("qwen-7b"), apps, pods)
    assert (old.served_models, old.served_model_count) == (["qwen-7b"], 1)  # not qwen-14b: no pod of it is there
    new = endpoint_status(endpoint("qwen-14b"), apps, pods)
    assert new.served_models == ["qwen-14b"]  # none of its pods yet: the model its newest spec serves there
    every = endpoint_status(endpoint("all", allModels=True), apps, pods)
    assert every.served_models == ["qwen-7b"]


@pytest.mark.parametrize(
    ("served", "pods", "listed", "count"),
    [
        pytest.param("model-b", ["model-b", "model-a"], ["model-a", "model-b"], 2, id="a rolling change: both models"),
        pytest.param("Org/New", ["Org/Old"], [], 1, id="a digest label no application names: counted, not listed"),
        pytest.param("Org/New", ["Org/New", "Org/Old"], ["Org/New"], 2, id="a digest label of its newest spec: named"),
    ],
)
def test_a_multi_model_endpoint_lists_the_models_its_pods_carry(
    served: str, pods: list[str], listed: list[str], count: int
) -> None:
    apps = [application("a", served, ready=len(pods))]
    backends = [leader_pod("a", model, group) for group, model in enumerate(pods)]
    status = endpoint_status(endpoint("all", allModels=True), apps, backends)
    assert (status.served_models, status.served_model_count) == (listed, count)


def test_during_a_rolling_change_of_model_each_endpoint_counts_the_groups_labelled_for_it() -> None:
    apps = [application("qwen-h100", "model-b", ready=3)]
    pods = [
        leader_pod("qwen-h100", "model-b", 0),
        leader_pod("qwen-h100", "model-a", 1),
        leader_pod("qwen-h100", "model-a", 2, ready=False),  # restarting
    ]
    assert endpoint_status(endpoint("model-b"), apps, pods).ready_backends == 1
    assert endpoint_status(endpoint("model-a"), apps, pods).ready_backends == 1
    assert endpoint_status(endpoint("all", allModels=True), apps, pods).ready_backends == 2


@pytest.mark.parametrize(
    ("apps", "pod"),
    [
        pytest.param([application("a", "qwen", 1)], leader_pod("a", "qwen", ready=False), id="a pod not Ready"),
        pytest.param(
            [application("a", "qwen", 1)],
            leader_pod("a", "qwen") | {"metadata": leader_pod("a", "qwen")["metadata"] | {"deletionTimestamp": "t"}},
            id="a pod being deleted",
        ),
        pytest.param(
            [application("a", "qwen", 1, deletionTimestamp="2026-12-01T00:00:00Z")],
            leader_pod("a", "qwen"),
            id="a pod of an application being deleted",
        ),
        pytest.param([], leader_pod("a", "qwen"), id="a pod of an application gone"),
        pytest.param([application("a", "qwen", 1)], leader_pod("a", "other"), id="a pod of another model"),
    ],
)
def test_a_pod_the_router_does_not_use_or_is_going_is_no_ready_backend(
    apps: list[ArksApplication], pod: dict[str, Any]
) -> None:
    assert endpoint_status(endpoint("qwen"), apps, [pod]).ready_backends == 0


def test_with_an_explicit_list_only_pods_with_the_member_label_count() -> None:
    apps = [application("a", "qwen", 1), application("b", "qwen", 1)]
    member = leader_pod("a", "qwen")
    member["metadata"]["labels"]["endpoint.arks.ai/picked"] = "true"
    status = endpoint_status(endpoint("picked", servedModelName="qwen", applications=["a", "b"]), apps, [member])
    assert (status.ready_backends, status.applications) == (1, ["a", "b"])


async def test_the_deployer_counts_what_the_pods_carry_and_names_the_application_they_belong_to() -> None:
    old, new = endpoint_doc("qwen-7b"), endpoint_doc("qwen-14b")
    server = ApiServer(old, new, moved_to_a_model_whose_check_failed(), leader_pod("qwen-h100", "qwen-7b"))
    plans = Plans()
    for doc in (old, new):
        plans.plan(doc)
        await EndpointReconciler(server, plans).reconcile("default", doc["metadata"]["name"])  # type: ignore[arg-type]
    assert (server.status("qwen-7b")["readyBackends"], server.status("qwen-7b")["applications"]) == (1, ["qwen-h100"])
    assert (server.status("qwen-14b")["readyBackends"], server.status("qwen-14b")["applications"]) == (0, ["qwen-h100"])
