"""PD-separated serving (docs/pd.md): the plans for SGLang's native PD and Dynamo's prefill/decode workers,
and the prechecks of PD specs. Each role is its own LeaderWorkerSet `A-<role>`, labelled with its role; the
Service reaches the router (frontend) only."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from unit.planner.builders import (
    APP_UID,
    NAMESPACE,
    PROFILES,
    app,
    group_argv,
    group_container,
    group_pod,
    model,
    shared_model,
)

from arks_common.api.application import ArksApplication
from arks_common.conventions import LABEL_APPLICATION, LABEL_COMPONENT, LABEL_ROLE
from arks_planner.core.plan import Plan, build_plan
from arks_planner.core.precheck import LargestNode, parse_application, plan_too_large, precheck
from arks_planner.core.profiles import load_profiles
from arks_planner.planning import _held_on_one_node
from support.builders import sample

SGLANG = "application-sglang-pd.yaml"
DYNAMO = "application-dynamo-pd.yaml"


def pd_dict(name: str = SGLANG, **roles: dict[str, Any]) -> dict[str, Any]:
    """A PD sample in NAMESPACE; `roles` (router, prefill, decode) are merged over the sample's blocks."""
    obj = sample(name)
    obj["metadata"] |= {"namespace": NAMESPACE, "uid": APP_UID}
    for role, fields in roles.items():
        block = obj["spec"].setdefault(role, {})
        for key, value in fields.items():
            if key == "instanceSpec":
                block.setdefault("instanceSpec", {}).update(copy.deepcopy(value))
            else:
                block[key] = copy.deepcopy(value)
    return obj


def pd_app(name: str = SGLANG, **roles: dict[str, Any]) -> ArksApplication:
    parsed = parse_application(pd_dict(name, **roles))
    assert isinstance(parsed, ArksApplication), parsed
    return parsed


def plan(name: str = SGLANG, **roles: dict[str, Any]) -> Plan:
    application = pd_app(name, **roles)
    assert precheck(application, shared_model(), PROFILES).passed
    return build_plan(application, shared_model(), PROFILES)


def by_name(p: Plan) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in p.objects}


def value_after(items: list[str], flag: str) -> str:
    return items[items.index(flag) + 1]


@pytest.mark.parametrize("name", [SGLANG, DYNAMO])
def test_each_role_is_its_own_leaderworkerset_and_the_plan_names_where_its_count_lives(name: str) -> None:
    p = plan(name)
    app_name = sample(name)["metadata"]["name"]
    assert [(o["kind"], o["metadata"]["name"]) for o in p.objects] == [
        ("LeaderWorkerSet", f"{app_name}-router"),
        ("LeaderWorkerSet", f"{app_name}-prefill"),
        ("LeaderWorkerSet", f"{app_name}-decode"),
        ("Service", f"arks-application-{app_name}"),
    ]
    assert [(r.name, r.replicas_from, r.autoscaled, r.autoscaling_from, r.decision_from) for r in p.roles] == [
        ("router", "/spec/router/replicas", False, "/spec/autoscaling", "/status/autoscaling/desiredReplicas"),
        (
            "prefill",
            "/spec/prefill/replicas",
            True,
            "/spec/prefill/autoscaling",
            "/status/autoscaling/prefill/desiredReplicas",
        ),
        (
            "decode",
            "/spec/decode/replicas",
            True,
            "/spec/decode/autoscaling",
            "/status/autoscaling/decode/desiredReplicas",
        ),
    ]
    for obj in p.objects[:3]:
        role = obj["metadata"]["name"].rsplit("-", 1)[1]
        assert obj["metadata"]["labels"][LABEL_COMPONENT] == role
        assert obj["metadata"]["labels"][LABEL_APPLICATION] == app_name
        assert group_pod(obj)["metadata"]["labels"][LABEL_COMPONENT] == role
        assert "replicas" not in obj["spec"], "the count has its own writer"


@pytest.mark.parametrize("name", [SGLANG, DYNAMO])
def test_the_service_reaches_the_router_leaders_only(name: str) -> None:
    service = plan(name).objects[-1]
    assert service["spec"]["selector"] == {
        LABEL_APPLICATION: sample(name)["metadata"]["name"],
        LABEL_ROLE: "leader",
        LABEL_COMPONENT: "router",
    }


def test_sglang_prefill_and_decode_servers_run_in_their_modes_with_nixl_and_their_own_options() -> None:
    objs = by_name(plan())
    prefill, decode = group_argv(objs["app-qwen-pd-prefill"]), group_argv(objs["app-qwen-pd-decode"])
    assert prefill[:3] == decode[:3] == ["python3", "-m", "sglang.launch_server"]
    assert value_after(prefill, "--disaggregation-mode") == "prefill"
    assert value_after(decode, "--disaggregation-mode") == "decode"
    assert value_after(prefill, "--disaggregation-bootstrap-port") == "8998"
    assert "--disaggregation-transfer-backend=nixl" in prefill
    assert "--disaggregation-transfer-backend=nixl" in decode
    assert prefill[-2:] == ["--mem-fraction-static", "0.7"], "prefill's extraOptions, last and in order"
    assert "--mem-fraction-static" not in decode, "decode has its own (no) extraOptions"
    assert value_after(prefill, "--port") == value_after(decode, "--port") == "8080"


def test_sglang_prefill_pods_announce_their_bootstrap_port_to_the_router() -> None:
    objs = by_name(plan())
    assert group_pod(objs["app-qwen-pd-prefill"])["metadata"]["annotations"] == {"sglang.ai/bootstrap-port": "8998"}
    assert "annotations" not in group_pod(objs["app-qwen-pd-decode"])["metadata"]


def test_a_users_transfer_backend_replaces_the_default() -> None:
    objs = by_name(plan(prefill={"extraOptions": ["--disaggregation-transfer-backend", "mooncake"]}))
    prefill = group_argv(objs["app-qwen-pd-prefill"])
    assert "--disaggregation-transfer-backend=nixl" not in prefill
    assert value_after(prefill, "--disaggregation-transfer-backend") == "mooncake"


def test_the_sglang_router_runs_in_pd_mode_and_finds_this_applications_leaders_by_label() -> None:
    router = by_name(plan())["app-qwen-pd-router"]
    items = group_argv(router)
    assert items[:4] == ["python3", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
    assert value_after(items, "--port") == "8080"
    assert value_after(items, "--service-discovery-namespace") == NAMESPACE
    assert value_after(items, "--service-discovery-port") == "8080"
    i, j = items.index("--prefill-selector"), items.index("--decode-selector")
    assert items[i + 1 : j] == [
        "arks.ai/application=app-qwen-pd",
        "arks.ai/role=prefill",
        "arks.ai/work-load-role=leader",
    ]
    assert items[j + 1 : j + 4] == [
        "arks.ai/application=app-qwen-pd",
        "arks.ai/role=decode",
        "arks.ai/work-load-role=leader",
    ]
    pod = group_pod(router)
    assert pod["spec"]["serviceAccountName"] == "arks-pd-router"
    assert "automountServiceAccountToken" not in pod["spec"], "the router needs its token to watch pods"
    assert group_container(router)["readinessProbe"] == {"httpGet": {"path": "/readiness", "port": 8080}}


def test_the_sglang_router_serves_its_metrics_on_a_port_of_its_own_declared_as_metrics() -> None:
    """sglang-router 0.3.2 serves its Prometheus metrics on --prometheus-port (default 29000), never on its --port
    (its routes have no /metrics: 404). The router pod declares that port as `metrics` and names its serving port
    `api`, not `http`: the monitoring chart scrapes `http` and `metrics` at /metrics on every application pod."""
    p = plan()
    router = by_name(p)["app-qwen-pd-router"]
    items = group_argv(router)
    assert value_after(items, "--prometheus-port") == "29000"
    assert value_after(items, "--prometheus-host") == "0.0.0.0"
    container = group_container(router)
    assert container["ports"] == [{"name": "api", "containerPort": 8080}, {"name": "metrics", "containerPort": 29000}]
    # what reaches the serving port names it by number, not by the name it lost
    assert container["readinessProbe"] == {"httpGet": {"path": "/readiness", "port": 8080}}
    assert p.objects[-1]["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]
    for role in ("prefill", "decode"):  # SGLang's engines serve /metrics on their serving port, as before
        assert group_container(by_name(p)[f"app-qwen-pd-{role}"])["ports"] == [{"name": "http", "containerPort": 8080}]


@pytest.mark.parametrize("name", [DYNAMO, "application-dynamo-sglang-pd.yaml"])
def test_the_dynamo_frontend_has_its_http_port_where_it_serves_its_metrics_and_no_system_port(name: str) -> None:
    """dynamo.frontend serves /metrics (dynamo_frontend_*) on --http-port. It runs no system status server: ai-dynamo
    1.6.1's frontend/main.py drops DYN_SYSTEM_PORT before it starts ("The frontend does not expose a system metrics
    server"), so the engines' `metrics` port 9090 on its pod would be a target always down."""
    router = next(o for o in plan(name).objects if o["metadata"]["name"].endswith("-router"))
    assert group_container(router)["ports"] == [{"name": "http", "containerPort": 8080}]
    assert not any(a.startswith("--prometheus") for a in group_argv(router))


def test_sglang_multi_node_prefill_groups_launch_natively_across_their_nodes() -> None:
    objs = by_name(
        plan(
            prefill={
                "tensorParallelSize": 2,
                "instanceSpec": {"replicas": 2, "resources": {"limits": {"nvidia.com/gpu": "1"}}},
            }
        )
    )
    lws = objs["app-qwen-pd-prefill"]
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    leader, worker = group_argv(lws, "leader"), group_argv(lws, "worker")
    for items in (leader, worker):
        assert value_after(items, "--disaggregation-mode") == "prefill"
        assert value_after(items, "--dist-init-addr") == "$(LWS_LEADER_ADDRESS):20000"
        assert value_after(items, "--tp-size") == "2"
    assert value_after(worker, "--node-rank") == "$(LWS_WORKER_INDEX)"
    assert "--port" not in worker
    assert objs["app-qwen-pd-decode"]["spec"]["leaderWorkerTemplate"]["size"] == 1


def test_dynamo_frontend_runs_alone_in_the_applications_namespace_with_the_routers_options() -> None:
    objs = by_name(plan(DYNAMO))
    router = objs["app-qwen-dynamo-pd-router"]
    items = group_argv(router)
    assert items == [
        "python3", "-m", "dynamo.frontend", "--http-port", "8080",
        "--namespace", f"{NAMESPACE}-app-qwen-dynamo-pd", "--router-mode", "kv",
    ]  # fmt: skip
    probe = group_container(router)["readinessProbe"]
    assert "/v1/models" in probe["exec"]["command"][2]
    assert probe["exec"]["command"][3] == "qwen-7b"


def test_dynamo_prefill_and_decode_workers_run_in_their_modes_with_nixl_kv_transfer() -> None:
    objs = by_name(plan(DYNAMO))
    prefill, decode = group_argv(objs["app-qwen-dynamo-pd-prefill"]), group_argv(objs["app-qwen-dynamo-pd-decode"])
    assert prefill[:3] == decode[:3] == ["python3", "-m", "dynamo.vllm"]
    assert value_after(prefill, "--disaggregation-mode") == "prefill"
    assert value_after(decode, "--disaggregation-mode") == "decode"
    kv = {
        "prefill": next(i for i in prefill if i.startswith("--kv-transfer-config=")),
        "decode": next(i for i in decode if i.startswith("--kv-transfer-config=")),
    }
    assert json.loads(kv["prefill"].split("=", 1)[1]) == {"kv_connector": "NixlConnector", "kv_role": "kv_producer"}
    assert json.loads(kv["decode"].split("=", 1)[1]) == {"kv_connector": "NixlConnector", "kv_role": "kv_consumer"}
    assert value_after(prefill, "--tensor-parallel-size") == "1"
    assert value_after(decode, "--tensor-parallel-size") == "2", "each role its own tensor parallelism"


@pytest.mark.parametrize("role", ["router", "prefill", "decode"])
def test_every_dynamo_role_shares_the_applications_dynamo_namespace_and_reaches_discovery(role: str) -> None:
    lws = by_name(plan(DYNAMO))[f"app-qwen-dynamo-pd-{role}"]
    env = {e["name"]: e["value"] for e in group_container(lws)["env"]}
    assert env["DYN_NAMESPACE"] == f"{NAMESPACE}-app-qwen-dynamo-pd"
    assert env["DYN_SYSTEM_PORT"] == "9090"
    assert env["ETCD_ENDPOINTS"] == "http://etcd.dynamo:2379"


@pytest.mark.parametrize("role", ["prefill", "decode"])
def test_dynamo_workers_are_ready_when_their_system_port_answers_health(role: str) -> None:
    c = group_container(by_name(plan(DYNAMO))[f"app-qwen-dynamo-pd-{role}"])
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": 9090}
    assert {"name": "metrics", "containerPort": 9090} in c["ports"]


@pytest.mark.parametrize("name", [DYNAMO, "application-dynamo-sglang-pd.yaml"])
@pytest.mark.parametrize("role", ["prefill", "decode"])
def test_dynamo_workers_declare_no_serving_port_where_nothing_listens(name: str, role: str) -> None:
    """A Dynamo prefill or decode worker (dynamo.vllm, dynamo.sglang with --disaggregation-mode) runs no HTTP server on
    the runtime's port: it registers with Dynamo's discovery and serves its system status server (/health, /metrics)
    on DYN_SYSTEM_PORT. Declared `http`, its leader's port 8080 was a target the monitoring chart scraped always
    down."""
    lws = next(o for o in plan(name).objects if o["metadata"]["name"].endswith(f"-{role}"))
    assert group_container(lws)["ports"] == [{"name": "metrics", "containerPort": 9090}]


def test_two_pd_applications_never_share_a_dynamo_namespace_or_router_selector() -> None:
    first = plan(DYNAMO)
    other = pd_dict(DYNAMO)
    other["metadata"]["name"] = "other"
    application = parse_application(other)
    assert isinstance(application, ArksApplication)
    second = build_plan(application, shared_model(), PROFILES)
    ns = [group_container(o)["env"][0]["value"] for p in (first, second) for o in p.objects[:3]]
    assert len(set(ns[:3])) == 1
    assert len(set(ns[3:])) == 1
    assert ns[0] != ns[3]
    sg = next(group_argv(o) for o in plan().objects[:1])
    assert "arks.ai/application=app-qwen-pd" in sg


def test_scaling_a_role_does_not_change_the_plan() -> None:
    base = plan()
    scaled = plan(decode={"replicas": 7})
    assert base.plan_hash == scaled.plan_hash, "a count is not part of the plan"


def test_the_aggregated_plan_is_unchanged_by_the_pd_form() -> None:
    application = parse_application(
        sample("application-sglang.yaml") | {"metadata": {"name": "app-qwen", "namespace": NAMESPACE, "uid": APP_UID}}
    )
    assert isinstance(application, ArksApplication)
    p = build_plan(application, shared_model(), PROFILES)
    assert [(o["kind"], o["metadata"]["name"]) for o in p.objects] == [
        ("LeaderWorkerSet", "app-qwen"),
        ("Service", "arks-application-app-qwen"),
    ]
    assert LABEL_COMPONENT not in p.objects[1]["spec"]["selector"]


# Prechecks of PD specs: each refusal names the role's own field.


def refusal(name: str = SGLANG, **roles: dict[str, Any]) -> tuple[str, str]:
    result = precheck(pd_app(name, **roles), shared_model(), PROFILES)
    assert not result.passed
    return result.reason, result.message


def test_the_sglang_router_without_a_service_account_runs_as_one_arks_plans_that_may_only_read_pods() -> None:
    obj = pd_dict()
    del obj["spec"]["router"]
    application = parse_application(obj)
    assert isinstance(application, ArksApplication)
    assert precheck(application, shared_model(), PROFILES).passed
    p = build_plan(application, shared_model(), PROFILES)
    name = f"{application.metadata.name}-router"
    kinds = {(o["kind"], o["metadata"]["name"]) for o in p.objects}
    assert {("ServiceAccount", name), ("Role", name), ("RoleBinding", name)} <= kinds
    objs = {o["kind"]: o for o in p.objects if o["metadata"]["name"] == name}
    assert objs["Role"]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    assert objs["RoleBinding"]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    assert objs["RoleBinding"]["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]
    for obj in objs.values():  # owned, labelled and hashed like every planned object: pruned and deleted with it
        assert obj["metadata"]["labels"][LABEL_APPLICATION] == application.metadata.name
        assert obj["metadata"]["ownerReferences"][0]["uid"] == application.metadata.uid
        assert obj["metadata"]["annotations"] == {"arks.ai/plan-hash": p.plan_hash}
    pod = group_pod(objs["LeaderWorkerSet"])  # the router's own group set shares the account's name
    assert pod["spec"]["serviceAccountName"] == name
    assert "automountServiceAccountToken" not in pod["spec"], "the router needs its token to watch pods"
    engines = [o for o in p.objects if o["kind"] == "LeaderWorkerSet" and o["metadata"]["name"] != name]
    assert all("serviceAccountName" not in group_pod(o)["spec"] for o in engines)


def test_a_router_account_the_user_names_is_used_as_it_is_and_no_rbac_is_planned() -> None:
    p = plan()
    assert not [o for o in p.objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]


def test_a_prefill_tensor_parallelism_larger_than_its_gpus_names_the_prefill_field() -> None:
    reason, message = refusal(prefill={"tensorParallelSize": 4})
    assert reason == "TensorParallelTooLarge"
    assert message.startswith("spec.prefill.tensorParallelSize: 4 is larger than the 1 GPUs of one group")
    assert "spec.prefill.instanceSpec.replicas" in message


def test_the_disaggregation_mode_in_a_roles_extra_options_is_refused_naming_the_role() -> None:
    reason, message = refusal(decode={"extraOptions": ["--disaggregation-mode", "prefill"]})
    assert reason == "OptionSetByArks"
    assert message.startswith("spec.decode.extraOptions[0]: --disaggregation-mode is set by Arks")


def test_a_router_option_arks_does_not_set_passes_though_an_engine_of_the_runtime_has_it() -> None:
    """sglang-router 0.3.2 has its own --model-path (its tokenizer); Arks sets the engines' --model-path, not the
    router's, so the router's is the user's to give. The flags the router's command does set stay refused."""
    result = precheck(pd_app(router={"extraOptions": ["--model-path", "/models/x"]}), shared_model(), PROFILES)
    assert result.passed, result.message
    for role in ("prefill", "decode"):
        refused = precheck(pd_app(SGLANG, **{role: {"extraOptions": ["--model-path", "/x"]}}), shared_model(), PROFILES)
        assert refused.message.startswith(f"spec.{role}.extraOptions[0]: --model-path is set by Arks"), refused
    for flag in ("--host", "--prefill-selector", "--service-discovery-port"):
        refused = precheck(pd_app(router={"extraOptions": [flag, "x"]}), shared_model(), PROFILES)
        assert refused.reason == "OptionSetByArks", (flag, refused)


def test_a_dynamo_frontends_namespace_prefix_is_refused() -> None:
    """ai-dynamo 1.6.1's frontend (frontend/frontend_args.py): --namespace-prefix "takes precedence over --namespace",
    so a prefix in the router's extraOptions would discover other applications' workers (`team` matches `team-a-chat`)
    and break the isolation Arks' --namespace gives."""
    refused = precheck(
        pd_app(DYNAMO, router={"extraOptions": ["--namespace-prefix", "team"]}), shared_model(), PROFILES
    )
    assert refused.reason == "OptionSetByArks", refused
    assert refused.message.startswith("spec.router.extraOptions[0]: --namespace-prefix is set by Arks"), refused


def test_a_routers_own_port_is_refused() -> None:
    reason, message = refusal(router={"extraOptions": ["--port", "9000"]})
    assert (reason, message.split(":")[0]) == ("OptionSetByArks", "spec.router.extraOptions[0]")


@pytest.mark.parametrize("flag", ["--prometheus-port", "--prometheus-host", "--prometheus-p"])
def test_the_sglang_routers_metrics_port_and_host_are_refused_naming_the_field(flag: str) -> None:
    """Moved (or bound to the loopback only), the router's metrics would leave the pod's `metrics` port."""
    reason, message = refusal(router={"extraOptions": ["--log-level", "info", f"{flag}=9100"]})
    assert reason == "OptionSetByArks"
    assert message.startswith(f"spec.router.extraOptions[2]: {flag}"), message
    assert "is set by Arks from the profile (the router's metrics" in message


def test_the_sglang_routers_other_metrics_options_pass() -> None:
    options = ["--prometheus-duration-buckets", "0.1", "1", "10"]
    result = precheck(pd_app(router={"extraOptions": options}), shared_model(), PROFILES)
    assert result.passed, result.message
    assert group_argv(by_name(plan(router={"extraOptions": options}))["app-qwen-pd-router"])[-4:] == options


@pytest.mark.parametrize("role", ["router", "prefill", "decode"])
def test_dynamo_roles_without_discovery_are_refused_naming_the_role(role: str) -> None:
    obj = pd_dict(DYNAMO)
    obj["spec"][role]["instanceSpec"]["env"] = []
    application = parse_application(obj)
    assert isinstance(application, ArksApplication)
    result = precheck(application, shared_model(), PROFILES)
    assert (result.passed, result.reason) == (False, "RuntimeEnvMissing")
    assert result.message.startswith(f"spec.{role}.instanceSpec.env:")


def test_a_runtime_whose_profile_has_no_pd_section_is_refused() -> None:
    profiles = load_profiles("runtimes:\n  sglang:\n    disaggregation: null\n")
    result = precheck(pd_app(), shared_model(), profiles)
    assert (result.passed, result.reason) == (False, "DisaggregationNotSupported")
    assert result.message.startswith("spec.prefill:")
    assert "['dynamo']" in result.message


def test_a_bad_pd_form_is_an_invalid_spec_naming_the_field() -> None:
    obj = pd_dict()
    del obj["spec"]["decode"]
    result = parse_application(obj)
    assert not isinstance(result, ArksApplication)
    assert result.reason == "InvalidSpec"
    assert "spec.decode: prefill and decode go together" in result.message


def test_a_role_count_no_leaderworkerset_can_hold_is_an_invalid_spec_naming_the_field() -> None:
    """Stored before the CRD's bound: refused here, not by the LWS webhook after the router's objects exist."""
    obj = pd_dict()
    obj["spec"]["prefill"]["replicas"] = 3_000_000_000
    result = parse_application(obj)
    assert not isinstance(result, ArksApplication)
    assert result.reason == "InvalidSpec"
    assert result.message.startswith("spec.prefill.replicas: Input should be less than or equal to 2147483647")


def test_a_plan_too_large_for_the_bus_names_the_lists_of_its_largest_role() -> None:
    """A PD application has no spec.instanceSpec.env of its own: the message names the role's."""
    big = {"instanceSpec": {"env": [{"name": "BIG", "value": "x" * 50_000}]}}
    result = plan_too_large(1_300_000, plan(decode=big).objects)
    assert (result.passed, result.reason) == (False, "PlanTooLarge")
    assert "shorten spec.decode.extraOptions, spec.decode.instanceSpec.env or the other lists of spec.decode" in (
        result.message
    )
    aggregated = build_plan(app(), shared_model(), PROFILES)
    assert "shorten spec.extraOptions, spec.instanceSpec.env or the other lists" in (
        plan_too_large(1_300_000, aggregated.objects).message
    )


def test_a_long_name_is_checked_against_the_role_suffixed_names() -> None:
    obj = pd_dict()
    obj["metadata"]["name"] = "a" * 46  # fits the Service name, but not `<name>-router` in a revision label
    application = parse_application(obj)
    assert isinstance(application, ArksApplication)
    result = precheck(application, shared_model(), PROFILES)
    assert (result.passed, result.reason) == (False, "InvalidName")
    assert "-router" in result.message


@pytest.mark.parametrize("name", [SGLANG, DYNAMO])
def test_an_endpoint_reaches_a_pd_application_through_its_router_only(name: str) -> None:
    """The router is the PD application's one OpenAI backend: only its pods carry the endpoint-backend label, and
    with the served-model label they match an ArksEndpoint's router selector; prefill and decode engines never."""
    from arks_common.api import ArksEndpoint
    from arks_planner.core.endpoint import backend_selector

    app = pd_app(name)
    endpoint = ArksEndpoint.model_validate(
        {
            "metadata": {"name": "ep", "namespace": NAMESPACE},
            "spec": {"servedModelName": app.spec.effective_served_model_name()},
        }
    )
    wanted = backend_selector(endpoint)
    matched = set()
    for lws in (o for o in plan(name).objects if o["kind"] == "LeaderWorkerSet"):
        for pod in ("leader", "worker"):
            labels = group_pod(lws, pod)["metadata"]["labels"]
            if wanted.items() <= labels.items():
                matched.add((labels[LABEL_COMPONENT], labels[LABEL_ROLE]))
    assert matched == {("router", "leader")}


def test_a_pd_application_on_a_one_pod_model_volume_is_refused() -> None:
    # router, prefill and decode each mount the model: one group per role is already three pods on a one-pod claim
    result = precheck(pd_app(decode={"replicas": 1}), model("ReadWriteOncePod"), PROFILES)
    assert (result.passed, result.reason) == (False, "ModelStorageNotShared")
    assert result.message.startswith("spec: ArksModel 'qwen-7b' has spec.storage.pvc.spec.accessModes")
    assert "the application may run 3 pods (router 1, prefill 1, decode 1)" in result.message


def test_a_pd_roles_multi_node_group_on_a_one_node_volume_is_checked_against_the_largest_node() -> None:
    two_nodes = {"replicas": 2, "resources": {"limits": {"nvidia.com/gpu": "8"}}}
    application = pd_app(prefill={"tensorParallelSize": 16, "instanceSpec": two_nodes})
    assert _held_on_one_node(application, model())  # so the planner looks up the largest node
    result = precheck(application, model(), PROFILES, LargestNode("gpu-node", 8))
    assert (result.reason, result.message.split(":")[0]) == (
        "GroupDoesNotFitNode",
        "spec.prefill.instanceSpec.replicas",
    )
