"""Endpoint planning: which applications an ArksEndpoint selects, the router it becomes, the status it reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from arks_common.api import ArksApplication, ArksEndpoint, ArksModel, RouterPolicy
from arks_common.api.meta import ConditionStatus
from arks_common.conventions import LABEL_SERVED_MODEL, served_model_label
from arks_common.endpoints import RouterOutcome, endpoint_status, selected_applications
from arks_planner.app import backend_port, make_setup
from arks_planner.core.endpoint import (
    EndpointPlanError,
    RouterSettings,
    backend_selector,
    build_endpoint_plan,
    discovery_manifest,
    router_args,
)
from arks_planner.core.plan import build_plan
from arks_planner.core.profiles import load_profiles
from arks_planner.settings import PlannerSettings
from support.builders import sample, vllm_app
from support.endpoint_fakes import leader_pod

SETTINGS = RouterSettings(image="registry.example/smg:1.13.0", backend_port=8080)


def app(name: str, served: str | None, ready: int = 0, namespace: str = "default", **meta: Any) -> ArksApplication:
    doc = vllm_app()
    doc["metadata"] = {"name": name, "namespace": namespace, "uid": f"uid-{name}", **meta}
    if served is not None:
        doc["spec"]["servedModelName"] = served
    doc["status"] = {"readyReplicas": ready}
    return ArksApplication.model_validate(doc)


def endpoint(name: str = "model-a", **spec: Any) -> ArksEndpoint:
    return ArksEndpoint.model_validate(
        {"metadata": {"name": name, "namespace": "default", "uid": "uid-ep", "generation": 3}, "spec": spec}
    )


APPS = [
    app("a-h100", "model-a", ready=2),
    app("a-l40s", "model-a", ready=1),
    app("b", "model-b", ready=1),
    app("a-elsewhere", "model-a", ready=4, namespace="other"),
    app("a-leaving", "model-a", ready=1, deletionTimestamp=datetime(2026, 1, 1, tzinfo=UTC)),
]


def leaders(apps: list[ArksApplication]) -> list[dict[str, Any]]:
    """The leader pods of each application's ready groups, labelled as its spec says, Ready."""
    return [
        leader_pod(a.metadata.name, a.spec.effective_served_model_name(), i, namespace=a.metadata.namespace)
        for a in apps
        for i in range(a.status.ready_replicas)
    ]


PODS = leaders(APPS)


def names(apps: list[ArksApplication]) -> list[str]:
    return [a.metadata.name for a in apps]


def test_selects_the_applications_of_its_model_in_its_namespace_only() -> None:
    assert names(selected_applications(endpoint(), APPS)) == ["a-h100", "a-l40s"]
    assert names(selected_applications(endpoint("b-endpoint", servedModelName="model-b"), APPS)) == ["b"]


def test_model_name_defaults_to_the_endpoint_name_and_all_models_takes_every_application() -> None:
    assert endpoint().served_model() == "model-a"
    assert names(selected_applications(endpoint("all", allModels=True), APPS)) == ["a-h100", "a-l40s", "b"]


def test_served_model_defaults_to_the_model_name() -> None:
    default_name = app("plain", None)
    model = default_name.spec.model.name
    assert names(selected_applications(endpoint(model), [default_name])) == ["plain"]


def test_router_finds_the_leaders_of_its_model_by_the_label_the_application_plan_sets() -> None:
    profiles = load_profiles(None)
    model = ArksModel.model_validate(sample("model.yaml"))
    plan = build_plan(app("a-h100", "Qwen/Qwen2.5-7B"), model, profiles)
    lws = plan.objects[0]
    template = lws["spec"]["leaderWorkerTemplate"]
    pod_labels = (template.get("leaderTemplate") or template["workerTemplate"])["metadata"]["labels"]
    selector = backend_selector(endpoint("qwen", servedModelName="Qwen/Qwen2.5-7B"))
    assert selector.items() <= pod_labels.items()
    if "leaderTemplate" in template:  # a multi-node group: its workers are no backends
        assert not selector.items() <= template["workerTemplate"]["metadata"]["labels"].items()
    assert pod_labels[LABEL_SERVED_MODEL].startswith("m.")  # a slash is not allowed in a label value
    assert "arks.ai/served-model" not in backend_selector(endpoint("all", allModels=True))


def test_label_form_of_a_model_name() -> None:
    assert served_model_label("qwen-7b") == "qwen-7b"
    assert served_model_label("Qwen/Qwen2.5-7B") != served_model_label("Qwen/Qwen2.5-7b")
    assert len(served_model_label("x" * 200)) <= 63


def test_router_args_discover_in_the_namespace_by_label_and_balance_by_load() -> None:
    args = router_args(endpoint(), 8080)
    assert args[:5] == ["--enable-igw", "--policy", "power_of_two", "--power-of-two-load-metric", "least_requests"]
    sel = args.index("--selector")
    assert args[sel + 1 : sel + 3] == ["arks.ai/endpoint-backend=true", "arks.ai/served-model=model-a"]
    assert args[sel + 3].startswith("--")
    assert args[args.index("--service-discovery-namespace") + 1] == "default"
    assert args[args.index("--service-discovery-port") + 1] == "8080"
    rr = router_args(endpoint(router={"policy": "round_robin"}), 8080)
    assert rr[:3] == ["--enable-igw", "--policy", "round_robin"]
    assert "--power-of-two-load-metric" not in rr


def test_plan_is_router_deployment_service_and_least_rbac_owned_by_the_endpoint() -> None:
    plan = build_endpoint_plan(endpoint(router={"replicas": 2}), SETTINGS)
    kinds = {o["kind"]: o for o in plan.objects}
    assert list(kinds) == ["ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"]
    assert {o["metadata"]["name"] for o in plan.objects} == {"arks-endpoint-model-a"}
    assert kinds["Role"]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    for obj in plan.objects:
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("ArksEndpoint", "uid-ep", True)
        assert obj["metadata"]["annotations"]["arks.ai/plan-hash"] == plan.plan_hash
    deployment = kinds["Deployment"]["spec"]
    assert deployment["replicas"] == 2
    pod = deployment["template"]["spec"]
    assert pod["serviceAccountName"] == "arks-endpoint-model-a"
    (container,) = pod["containers"]
    assert container["image"] == SETTINGS.image
    assert {p["name"] for p in container["ports"]} == {"http", "health", "metrics"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readiness"
    assert kinds["Service"]["spec"]["selector"] == deployment["template"]["metadata"]["labels"]
    assert [p["port"] for p in kinds["Service"]["spec"]["ports"]] == [8080, 29000]


def test_plan_is_deterministic_and_follows_the_spec() -> None:
    one = build_endpoint_plan(endpoint(), SETTINGS)
    assert build_endpoint_plan(endpoint(), SETTINGS) == one
    assert build_endpoint_plan(endpoint(router={"policy": "cache_aware"}), SETTINGS).plan_hash != one.plan_hash


def test_no_router_image_is_a_clear_error() -> None:
    with pytest.raises(EndpointPlanError, match=r"spec\.router\.image"):
        build_endpoint_plan(endpoint(), RouterSettings(image="", backend_port=8080))


def test_status_counts_ready_groups_and_is_ready_with_one() -> None:
    status = endpoint_status(endpoint(), APPS, PODS, router=RouterOutcome(planned=True))
    assert (status.applications, status.applications_text, status.ready_backends) == (
        ["a-h100", "a-l40s"],
        "a-h100,a-l40s",
        3,
    )
    assert status.model == "model-a"
    assert status.url == "http://arks-endpoint-model-a.default.svc:8080"
    ready = status.condition("Ready")
    assert ready is not None
    assert (ready.status, ready.reason, ready.observed_generation) == (ConditionStatus.TRUE, "BackendsReady", 3)


def test_status_not_ready_without_ready_groups_or_applications() -> None:
    cold = endpoint_status(endpoint(), [app("a-h100", "model-a", ready=0)], [])
    cond = cold.condition("Ready")
    assert cond is not None
    assert (cond.status, cond.reason) == (ConditionStatus.FALSE, "NoReadyBackend")
    none = endpoint_status(endpoint("nobody"), APPS, PODS).condition("Ready")
    assert none is not None
    assert (none.status, none.reason) == (ConditionStatus.FALSE, "NoApplication")
    assert "'nobody'" in none.message


def test_a_not_ready_message_names_ten_applications_and_counts_the_rest() -> None:
    cold = [app(f"a-{i:04d}", "model-a") for i in range(2000)]
    status = endpoint_status(endpoint(), cold, [])
    cond = status.condition("Ready")
    assert cond is not None
    assert cond.message == (
        "none of the applications behind the endpoint (a-0000, a-0001, a-0002, a-0003, a-0004, a-0005, a-0006, "
        "a-0007, a-0008, a-0009 and 1990 more) has a ready replica group"
    )
    assert status.applications == [f"a-{i:04d}" for i in range(1000)]  # the first 1000; the count has them all
    assert status.application_count == 2000
    assert status.applications_text == ",".join(f"a-{i:04d}" for i in range(10)) + " and 1990 more"
    few = endpoint_status(endpoint(), cold[:2], []).condition("Ready")
    assert few is not None
    assert "(a-0000, a-0001) has" in few.message


def test_all_models_status_lists_every_model() -> None:
    status = endpoint_status(endpoint("all", allModels=True), APPS, PODS)
    assert (status.model, status.served_models, status.ready_backends) == ("*", ["model-a", "model-b"], 4)
    assert (status.served_model_count, status.application_count) == (2, 3)


def test_the_status_lists_stay_small_whatever_the_served_model_names() -> None:
    # 300 applications, each serving a model of a 10,000-character name: listed whole, 3 MB of names, the status
    # would be larger than the API server stores an object, and every later status write would be refused
    huge = [app(f"a-{i:03d}", f"{i:03d}-" + "m" * 10_000) for i in range(300)]
    status = endpoint_status(endpoint("all", allModels=True), huge, [])
    assert status.served_model_count == 300
    assert len(status.served_models) == 6  # 65,536 characters of names
    assert status.served_models == sorted(status.served_models)
    assert status.served_models[0].startswith("000-")
    assert len(status.model_dump_json(by_alias=True)) < 100_000
    assert (status.application_count, len(status.applications)) == (300, 300)


def test_the_status_repeats_at_most_256_characters_of_the_endpoints_own_model_name() -> None:
    # a served model name has no length limit; a spec of 600,000 characters fits in etcd (1.5 MiB an object), but
    # repeated whole in status.model and in the NoApplication message the object would not
    name = "m" * 600_000
    doc = {"metadata": {"name": "huge", "namespace": "default"}, "spec": {"servedModelName": name}}
    status = endpoint_status(ArksEndpoint.model_validate(doc), [], []).to_k8s()
    assert status["model"] == "m" * 255 + "…"
    ready = status["conditions"][0]
    assert ready["reason"] == "NoApplication"
    assert len(ready["message"]) < 400
    assert "'" + "m" * 255 + "…'" in ready["message"]
    assert len(json.dumps({**doc, "status": status})) < 1536 * 1024
    assert len(json.dumps(status)) < 10_000
    short = endpoint_status(endpoint("qwen", servedModelName="Qwen/Qwen2.5-7B"), [], []).to_k8s()
    assert short["model"] == "Qwen/Qwen2.5-7B"


def test_discovery_manifest_lists_the_workers() -> None:
    assert '"url": "http://127.0.0.1:1"' in discovery_manifest(["http://127.0.0.1:1"])


def test_policies_offered_are_smg_policies() -> None:
    assert {p.value for p in RouterPolicy} <= {
        "random",
        "round_robin",
        "cache_aware",
        "power_of_two",
        "least_load",
        "consistent_hashing",
        "prefix_hash",
    }


def test_deployer_writes_the_status_only_when_a_reader_would_see_a_change() -> None:
    from arks_common.api.conditions import condition_dict
    from arks_deployer.endpoints import _same

    status = endpoint_status(endpoint(), APPS, PODS)
    body = status.to_k8s() | {"conditions": [condition_dict(c) for c in status.conditions]}
    live = {**body, "conditions": [{**c, "lastTransitionTime": "2026-01-01T00:00:00Z"} for c in body["conditions"]]}
    assert _same(live, body)
    assert not _same({**live, "readyBackends": 2}, body)
    assert not _same({}, body)


def test_a_pd_application_is_one_backend_ready_with_the_application() -> None:
    doc = sample("application-sglang-pd.yaml")
    doc["metadata"] |= {"namespace": "default", "uid": "uid-pd"}
    doc["spec"]["servedModelName"] = "model-a"
    groups = {"readyReplicas": 5, "replicas": 5}  # router, prefill and decode groups alike
    ready = {**groups, "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": ""}]}
    cold = {**groups, "conditions": [{"type": "Ready", "status": "False", "reason": "Degraded", "message": ""}]}
    pd_ready = ArksApplication.model_validate({**doc, "status": ready})
    pd_cold = ArksApplication.model_validate({**doc, "status": cold})
    router = leader_pod("app-qwen-pd", "model-a", role="router")  # its router pod Ready either way
    assert endpoint_status(endpoint(), [pd_ready], [router]).ready_backends == 1
    assert endpoint_status(endpoint(), [pd_cold], [router]).ready_backends == 0
    status = endpoint_status(endpoint(), [*APPS, pd_ready], [*PODS, router])
    assert status.applications == ["a-h100", "a-l40s", "app-qwen-pd"]
    assert status.ready_backends == 3 + 1


@pytest.mark.parametrize(
    ("override", "port"),
    [
        pytest.param(None, 8080, id="as shipped: every runtime on 8080"),
        pytest.param(
            "runtimes: {vllm: {port: 9000}, sglang: {port: 9000}, dynamo: {port: 9000}}", 9000, id="all moved"
        ),
        pytest.param("runtimes: {sglang: {port: 30000, enabled: false}}", 8080, id="the odd one disabled"),
    ],
)
def test_the_router_finds_backends_on_the_one_port_every_enabled_runtime_listens_on(
    override: str | None, port: int
) -> None:
    assert backend_port(load_profiles(override)) == (port, None)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        pytest.param("runtimes: {sglang: {port: 30000}}", "sglang 30000", id="one runtime moved"),
        pytest.param(
            "runtimes: {dynamo: {backends: {sglang: {port: 9000}}}}", "dynamo.backends.sglang 9000", id="a backend"
        ),
    ],
)
def test_runtimes_on_different_ports_are_told_not_a_refusal_to_start(override: str, named: str, tmp_path: Path) -> None:
    """Applications need no router: the planner starts, and the mismatch is told (at start, and on each endpoint)."""
    port, problem = backend_port(load_profiles(override))
    assert port == min(8080, int(named.rsplit(" ", 1)[1]))
    assert problem is not None
    assert "listen on different ports" in problem
    assert named in problem
    (tmp_path / "profiles.yaml").write_text(override)
    make_setup(PlannerSettings(runtime_profiles_file=str(tmp_path / "profiles.yaml")))  # no ProfileError
