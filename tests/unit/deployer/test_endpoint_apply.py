"""The deployer applying an endpoint's router: what the API server refuses or forbids, and a namesake that is not
the endpoint's, become the `RouterApplied` condition naming the object and the server's words; the rest is still
applied and the status still written. Only a server that cannot answer now is retried, and a forbidden object
(403) is looked at again in 30 s."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from arks_common.bus.consumer import TemporaryError
from arks_common.kube.client import KubeError
from arks_deployer.endpoints import EndpointReconciler
from support.endpoint_fakes import ApiServer, Plans, app_doc, endpoint_doc, leader_pod

ROUTER_KINDS = {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"}


async def reconcile(server: ApiServer, plans: Plans, name: str) -> None:
    await EndpointReconciler(server, plans).reconcile("default", name)  # type: ignore[arg-type]


def stored_before_the_crd_refused_it(name: str, **spec: Any) -> tuple[ApiServer, Plans]:
    """An endpoint the API server stored under an older CRD (or none of its rules), and the planner's plan of it."""
    endpoint = endpoint_doc(name, servedModelName="qwen", **spec)
    server, plans = ApiServer(endpoint, app_doc("qwen-h100", "qwen")), Plans()
    plans.plan(endpoint)
    return server, plans


@pytest.mark.parametrize(
    ("name", "spec", "refused", "words"),
    [
        pytest.param("qwen2.5-7b-instruct", {}, "Service", "metadata.name: Invalid value", id="a dotted name"),
        pytest.param("a" * 50, {}, "Service", "metadata.name: Invalid value", id="a name of 50 characters"),
        pytest.param("qwen", {"port": 29000}, "Service", "spec.ports[1]: Duplicate value", id="port 29000"),
        pytest.param(
            "qwen",
            {"router": {"resources": {"limits": {"cpu": "lots"}}}},
            "Deployment",
            "limits[cpu]: Invalid value: 'lots'",
            id="cpu: lots",
        ),
    ],
)
async def test_a_refused_router_object_is_a_condition_naming_it_and_the_rest_is_applied(
    name: str, spec: dict[str, Any], refused: str, words: str
) -> None:
    server, plans = stored_before_the_crd_refused_it(name, **spec)
    await reconcile(server, plans, name)
    applied = server.condition(name, "RouterApplied")
    assert (applied["status"], applied["reason"]) == ("False", "Refused")
    assert f"the API server refused {refused} arks-endpoint-{name}" in applied["message"]
    assert words in applied["message"]
    assert {kind for kind, _ in server.applied} == ROUTER_KINDS - {refused}
    assert server.status(name)["applications"] == ["qwen-h100"]


async def test_a_forbidden_object_is_told_as_forbidden() -> None:
    server, plans = stored_before_the_crd_refused_it("qwen")
    server.refuse[("Deployment", "arks-endpoint-qwen")] = KubeError(
        'apply Deployment default/arks-endpoint-qwen: deployments.apps "arks-endpoint-qwen" is forbidden: exceeded '
        "quota: compute, requested: limits.cpu=2, used: limits.cpu=8, limited: limits.cpu=8",
        403,
    )
    with pytest.raises(TemporaryError) as again:  # what forbids it may change by itself: looked at again
        await reconcile(server, plans, "qwen")
    assert again.value.delay_seconds == 30.0
    applied = server.condition("qwen", "RouterApplied")  # told before
    assert (applied["status"], applied["reason"]) == ("False", "Forbidden")
    assert "the API server forbade Deployment arks-endpoint-qwen" in applied["message"]
    assert "exceeded quota" in applied["message"]
    # a change of an application in the namespace reconciles the endpoint without failing the change's event
    await EndpointReconciler(server, plans).namespace_changed("default")  # type: ignore[arg-type]


async def test_a_webhooks_denial_is_a_refusal() -> None:
    server, plans = stored_before_the_crd_refused_it("qwen")
    server.refuse[("Service", "arks-endpoint-qwen")] = KubeError(
        'admission webhook "policy.example.com" denied the request: Services need a team label', 403
    )
    await reconcile(server, plans, "qwen")
    assert server.condition("qwen", "RouterApplied")["reason"] == "Refused"


async def test_the_message_is_bounded_whatever_the_server_says() -> None:
    server, plans = stored_before_the_crd_refused_it("qwen")
    for kind in ROUTER_KINDS:
        server.refuse[(kind, "arks-endpoint-qwen")] = KubeError("x" * 50_000, 422)
    await reconcile(server, plans, "qwen")
    assert len(server.condition("qwen", "RouterApplied")["message"]) <= 1000


async def test_a_server_that_cannot_answer_now_is_retried() -> None:
    server, plans = stored_before_the_crd_refused_it("qwen")
    server.refuse[("Service", "arks-endpoint-qwen")] = KubeError("apply Service: etcdserver: leader changed", 503)
    with pytest.raises(TemporaryError) as raised:
        await reconcile(server, plans, "qwen")
    assert raised.value.outage


async def test_a_namesake_of_someone_else_is_held_by_others_and_left_alone() -> None:
    server, plans = stored_before_the_crd_refused_it("qwen")
    users = {"kind": "Service", "metadata": {"name": "arks-endpoint-qwen"}, "spec": {"ports": [{"port": 80}]}}
    server.put(users)
    await reconcile(server, plans, "qwen")
    applied = server.condition("qwen", "RouterApplied")
    assert (applied["status"], applied["reason"]) == ("False", "HeldByOthers")
    assert "Service arks-endpoint-qwen already exists and belongs to something else" in applied["message"]
    assert ("Service", "arks-endpoint-qwen") not in server.applied


async def test_without_a_plan_the_router_is_pending_and_once_applied_it_says_so() -> None:
    endpoint = endpoint_doc("qwen", servedModelName="qwen")
    server, plans = ApiServer(endpoint), Plans()
    await reconcile(server, plans, "qwen")
    assert server.condition("qwen", "RouterApplied")["reason"] == "Pending"
    plans.plan(endpoint)
    await reconcile(server, plans, "qwen")
    applied = server.condition("qwen", "RouterApplied")
    assert (applied["status"], applied["reason"]) == ("True", "Applied")
    assert {kind for kind, _ in server.applied} == ROUTER_KINDS


async def test_an_endpoint_name_no_member_label_can_carry_is_told() -> None:
    name = "a" * 64  # the label key endpoint.arks.ai/<name> allows 63
    server, plans = stored_before_the_crd_refused_it(name, applications=["qwen-h100"])
    server.put(
        {
            "kind": "Pod",
            "metadata": {
                "name": "qwen-h100-0",
                "labels": {"arks.ai/application": "qwen-h100", "arks.ai/endpoint-backend": "true"},
            },
        }
    )
    await reconcile(server, plans, name)
    applied = server.condition(name, "RouterApplied")
    assert applied["reason"] == "Refused"
    assert f"the member label endpoint.arks.ai/{name} on Pod qwen-h100-0" in applied["message"]


def users_service() -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"name": "arks-endpoint-qwen"}, "spec": {"selector": {"app": "my-proxy"}}}


@pytest.mark.parametrize(
    ("planned", "refuse", "namesake", "reason"),
    [
        pytest.param(True, False, False, None, id="applied: Ready, with the URL"),
        pytest.param(False, False, False, "Pending", id="no plan (planner down, or it cannot plan it)"),
        pytest.param(True, True, False, "Refused", id="the Service refused"),
        pytest.param(True, False, True, "HeldByOthers", id="the Service someone else's"),
    ],
)
async def test_ready_backends_make_the_endpoint_ready_only_with_its_router_applied(
    planned: bool, refuse: bool, namesake: bool, reason: str | None
) -> None:
    endpoint = endpoint_doc("qwen", servedModelName="qwen")
    server, plans = ApiServer(endpoint, app_doc("qwen-h100", "qwen"), leader_pod("qwen-h100", "qwen")), Plans()
    if planned:
        plans.plan(endpoint)
    if refuse:
        server.refuse[("Service", "arks-endpoint-qwen")] = KubeError('Service "arks-endpoint-qwen" is invalid', 422)
    if namesake:
        server.put(users_service())
    await reconcile(server, plans, "qwen")
    ready, status = server.condition("qwen", "Ready"), server.status("qwen")
    assert status["readyBackends"] == 1
    if reason is None:
        assert (ready["status"], ready["reason"]) == ("True", "BackendsReady")
        assert status["url"] == "http://arks-endpoint-qwen.default.svc:8080"
    else:
        assert (ready["status"], ready["reason"]) == ("False", "RouterNotApplied")
        assert f"its router is not applied ({reason}" in ready["message"]
        assert status["url"] == ""  # no URL that leads nowhere, or to someone else's Service


def edited(server: ApiServer, name: str, **spec: Any) -> dict[str, Any]:
    """The endpoint's spec changed, as the API server stores it: a new generation."""
    endpoint = server.objects[("ArksEndpoint", "default", name)]
    endpoint["spec"] = spec
    endpoint["metadata"]["generation"] += 1
    return copy.deepcopy(endpoint)


def http_port(server: ApiServer, name: str) -> int:
    service = server.objects[("Service", "default", f"arks-endpoint-{name}")]
    return int(next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http"))


async def test_an_older_generations_plan_is_neither_applied_nor_reported_for_the_new_generation() -> None:
    """The endpoint edited from qwen:8080 to llama:9090 before the planner planned the change (or with the planner
    down): the router still selects qwen's pods and listens on 8080, so generation 2's status must not say it is
    applied, nor give the URL of port 9090. Before, the plan of generation 1 was applied and reported as
    generation 2's: `RouterApplied` True, Ready, and a URL on a port nothing listened on."""
    endpoint = endpoint_doc("qwen", servedModelName="qwen", port=8080)
    pods = (leader_pod("qwen-a", "qwen"), leader_pod("llama-a", "llama"))
    server = ApiServer(endpoint, app_doc("qwen-a", "qwen"), app_doc("llama-a", "llama"), *pods)
    plans = Plans()
    plans.plan(endpoint)
    await reconcile(server, plans, "qwen")
    assert server.condition("qwen", "Ready")["status"] == "True"

    newer = edited(server, "qwen", servedModelName="llama", port=9090)
    server.applied.clear()
    await reconcile(server, plans, "qwen")
    status, applied = server.status("qwen"), server.condition("qwen", "RouterApplied")
    assert status["observedGeneration"] == 2
    assert (applied["status"], applied["reason"], applied["observedGeneration"]) == ("False", "Pending", 2)
    assert "planned for generation 1, not yet for generation 2" in applied["message"]
    assert (server.condition("qwen", "Ready")["status"], status["url"]) == ("False", "")
    assert server.applied == []  # the older plan is not applied again over what is there
    assert status["applications"] == ["llama-a"]  # the backends follow the newest spec all the same

    plans.plan(newer)
    await reconcile(server, plans, "qwen")
    status = server.status("qwen")
    assert server.condition("qwen", "RouterApplied")["status"] == "True"
    assert (server.condition("qwen", "Ready")["status"], status["url"]) == (
        "True",
        "http://arks-endpoint-qwen.default.svc:9090",
    )
    assert http_port(server, "qwen") == 9090


async def test_a_new_generation_with_the_same_plan_hash_waits_for_its_own_plan() -> None:
    """Editing which applications `spec.applications` names leaves the router's objects (and the plan hash) as they
    were; the status of the new generation still comes only from a plan of it, which the planner publishes for
    each generation (tests/integration/test_endpoint_plans.py)."""
    endpoint = endpoint_doc("qwen", servedModelName="qwen", applications=["qwen-h100"])
    server, plans = ApiServer(endpoint, app_doc("qwen-h100", "qwen"), app_doc("qwen-l40s", "qwen")), Plans()
    first = plans.plan(endpoint)
    await reconcile(server, plans, "qwen")
    assert server.condition("qwen", "RouterApplied")["status"] == "True"

    newer = edited(server, "qwen", servedModelName="qwen", applications=["qwen-l40s"])
    await reconcile(server, plans, "qwen")
    assert server.condition("qwen", "RouterApplied")["reason"] == "Pending"
    assert plans.plan(newer).plan_hash == first.plan_hash
    await reconcile(server, plans, "qwen")
    applied = server.condition("qwen", "RouterApplied")
    assert (applied["status"], applied["observedGeneration"]) == ("True", 2)
