"""Dynamo with its SGLang backend (`spec.dynamo.backend: sglang`; docs/runtimes.md, docs/pd.md): the aggregated
plans (one and two nodes) and the PD plans run `python3 -m dynamo.sglang` with SGLang's flags in the application's
own Dynamo namespace, from the dynamo profile's `backends.sglang`; the vLLM backend's plans stay as they were."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from unit.planner.builders import (
    APP_UID,
    NAMESPACE,
    PROFILES,
    contains_run,
    group_argv,
    group_container,
    script_commands,
    shared_model,
)

from arks_common.api.application import ArksApplication
from arks_common.events.payloads import PrecheckResult
from arks_planner.core.plan import Plan, build_plan
from arks_planner.core.precheck import parse_application, precheck
from arks_planner.core.profiles import ProfileError, load_profiles
from support.builders import sample

AGGREGATED = "application-dynamo-sglang.yaml"
PD = "application-dynamo-sglang-pd.yaml"
IMAGE = "nvcr.io/nvidia/ai-dynamo/sglang-runtime:1.6.1"


def doc(name: str, **spec: Any) -> dict[str, Any]:
    """A sample in NAMESPACE with `spec` fields replaced; role blocks and instanceSpec merged field by field."""
    obj = sample(name)
    obj["metadata"] |= {"namespace": NAMESPACE, "uid": APP_UID}
    for key, value in spec.items():
        if key in ("prefill", "decode", "router"):
            block = obj["spec"].setdefault(key, {})
            for field, given in value.items():
                if field == "instanceSpec":
                    block.setdefault(field, {}).update(copy.deepcopy(given))
                else:
                    block[field] = copy.deepcopy(given)
        elif key == "instanceSpec":
            obj["spec"].setdefault(key, {}).update(copy.deepcopy(value))
        else:
            obj["spec"][key] = copy.deepcopy(value)
    return obj


def application(name: str = AGGREGATED, **spec: Any) -> ArksApplication:
    parsed = parse_application(doc(name, **spec))
    assert isinstance(parsed, ArksApplication), parsed
    return parsed


def checked(name: str = AGGREGATED, **spec: Any) -> PrecheckResult:
    return precheck(application(name, **spec), shared_model(), PROFILES)


def plan(name: str = AGGREGATED, **spec: Any) -> Plan:
    app = application(name, **spec)
    result = precheck(app, shared_model(), PROFILES)
    assert result.passed, result.message
    return build_plan(app, shared_model(), PROFILES)


def objects(p: Plan) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in p.objects}


def env(lws: dict[str, Any], which: str = "leader") -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in group_container(lws, which)["env"]}


def value_after(items: list[str], flag: str) -> str:
    return items[items.index(flag) + 1]


def lines(p: Plan, which: str) -> list[list[str]]:
    return script_commands(p, which)


# --- aggregated ------------------------------------------------------------------------------------------------


def test_a_two_node_group_runs_rank_0_of_dynamo_sglang_beside_the_frontend_on_the_leader() -> None:
    p = plan()
    commands = lines(p, "leader")
    engine = next(c for c in commands if "dynamo.sglang" in c)
    frontend = next(c for c in commands if "dynamo.frontend" in c)
    assert engine[:3] == ["python3", "-m", "dynamo.sglang"]
    assert contains_run(engine, ["--model-path", "/models/Qwen/Qwen2.5-7B-Instruct-1M"])
    assert contains_run(engine, ["--served-model-name", "qwen-7b", "--tp-size", "2"])
    assert contains_run(engine, ["--dist-init-addr", "$(LWS_LEADER_ADDRESS):20000", "--nnodes", "$(LWS_GROUP_SIZE)"])
    assert contains_run(engine, ["--node-rank", "0"])
    assert "--enable-metrics" in engine, "the system port passes sglang:* through only with it"
    assert not {"--host", "--port"} & set(engine), "the frontend serves HTTP, not SGLang"
    assert contains_run(frontend, ["python3", "-m", "dynamo.frontend", "--http-port", "8080"])
    assert contains_run(frontend, ["--namespace", f"{NAMESPACE}-app-qwen-dynamo-sglang"])


def test_the_other_nodes_join_the_engine_with_their_worker_index_and_serve_nothing() -> None:
    lws = objects(plan())["app-qwen-dynamo-sglang"]
    words = group_argv(lws, "worker")
    assert words[:3] == ["python3", "-m", "dynamo.sglang"]
    assert value_after(words, "--node-rank") == "$(LWS_WORKER_INDEX)"
    assert value_after(words, "--dist-init-addr") == "$(LWS_LEADER_ADDRESS):20000"
    assert "dynamo.frontend" not in words
    assert "readinessProbe" not in group_container(lws, "worker")


def test_one_node_runs_engine_and_frontend_in_the_one_pod() -> None:
    p = plan(instanceSpec={"replicas": 1, "resources": {"limits": {"nvidia.com/gpu": "2"}}})
    engine = next(c for c in lines(p, "leader") if "dynamo.sglang" in c)
    assert "--nnodes" not in engine
    assert "--dist-init-addr" not in engine
    assert any("dynamo.frontend" in c for c in lines(p, "leader"))


def test_the_sglang_backend_shares_dynamos_namespace_system_port_readiness_and_takes_its_own_image() -> None:
    lws = objects(plan())["app-qwen-dynamo-sglang"]
    for which in ("leader", "worker"):
        assert env(lws, which)["DYN_NAMESPACE"] == f"{NAMESPACE}-app-qwen-dynamo-sglang"
        assert env(lws, which)["DYN_SYSTEM_PORT"] == "9090"
        assert env(lws, which)["ETCD_ENDPOINTS"] == "http://etcd.dynamo:2379"
        assert group_container(lws, which)["image"] == IMAGE
        assert {"name": "metrics", "containerPort": 9090} in group_container(lws, which)["ports"]
    probe = group_container(lws)["readinessProbe"]
    assert "/v1/models" in probe["exec"]["command"][2]
    assert probe["exec"]["command"][3] == "qwen-7b"


def test_the_users_options_come_last_in_order() -> None:
    p = plan(extraOptions=["--mem-fraction-static", "0.7", "--page-size 16"])
    engine = next(c for c in lines(p, "leader") if "dynamo.sglang" in c)
    assert engine[-5:] == ["--mem-fraction-static", "0.7", "--page-size", "16", "&"]


def test_the_vllm_backend_plan_is_the_same_whether_spec_dynamo_is_absent_or_says_vllm() -> None:
    env_ = [{"name": "ETCD_ENDPOINTS", "value": "http://etcd.dynamo:2379"}]
    base = sample("application-vllm.yaml")
    base["metadata"] |= {"namespace": NAMESPACE, "uid": APP_UID}
    base["spec"] |= {"runtime": "dynamo"}
    base["spec"]["instanceSpec"]["env"] = env_
    explicit = copy.deepcopy(base)
    explicit["spec"]["dynamo"] = {"backend": "vllm"}
    plans = []
    for obj in (base, explicit):
        app = parse_application(obj)
        assert isinstance(app, ArksApplication)
        plans.append(build_plan(app, shared_model(), PROFILES))
    assert plans[0].plan_hash == plans[1].plan_hash
    leader = next(c for c in script_commands(plans[0], "leader") if "dynamo.vllm" in c)
    assert leader[:3] == ["python3", "-m", "dynamo.vllm"]


# --- PD ---------------------------------------------------------------------------------------------------------


def test_pd_workers_run_dynamo_sglang_in_their_modes_with_nixl_and_metrics() -> None:
    objs = objects(plan(PD))
    prefill, decode = (
        group_argv(objs["app-qwen-dynamo-sglang-pd-prefill"]),
        group_argv(objs["app-qwen-dynamo-sglang-pd-decode"]),
    )
    assert prefill[:3] == decode[:3] == ["python3", "-m", "dynamo.sglang"]
    assert value_after(prefill, "--disaggregation-mode") == "prefill"
    assert value_after(decode, "--disaggregation-mode") == "decode"
    assert value_after(prefill, "--disaggregation-bootstrap-port") == "8998"
    assert "--disaggregation-bootstrap-port" not in decode, "decode learns the bootstrap address from discovery"
    for words in (prefill, decode):
        assert "--disaggregation-transfer-backend=nixl" in words
        assert "--enable-metrics" in words
        assert "--port" not in words
        assert "--kv-transfer-config" not in " ".join(words)
    assert value_after(prefill, "--tp-size") == "1"
    assert value_after(decode, "--tp-size") == "2"


def test_the_pd_frontend_runs_alone_in_the_applications_namespace() -> None:
    router = objects(plan(PD))["app-qwen-dynamo-sglang-pd-router"]
    assert group_argv(router) == [
        "python3", "-m", "dynamo.frontend", "--http-port", "8080",
        "--namespace", f"{NAMESPACE}-app-qwen-dynamo-sglang-pd", "--router-mode", "kv",
    ]  # fmt: skip
    assert "/v1/models" in group_container(router)["readinessProbe"]["exec"]["command"][2]
    assert group_container(router)["image"] == IMAGE


@pytest.mark.parametrize("role", ["router", "prefill", "decode"])
def test_every_pd_role_shares_the_applications_dynamo_namespace(role: str) -> None:
    lws = objects(plan(PD))[f"app-qwen-dynamo-sglang-pd-{role}"]
    assert env(lws)["DYN_NAMESPACE"] == f"{NAMESPACE}-app-qwen-dynamo-sglang-pd"
    assert env(lws)["ETCD_ENDPOINTS"] == "http://etcd.dynamo:2379"
    assert lws["metadata"]["labels"]["arks.ai/role"] == role


@pytest.mark.parametrize("role", ["prefill", "decode"])
def test_pd_workers_are_ready_when_their_system_port_answers_health(role: str) -> None:
    c = group_container(objects(plan(PD))[f"app-qwen-dynamo-sglang-pd-{role}"])
    assert c["readinessProbe"] == {"httpGet": {"path": "/health", "port": 9090}, "periodSeconds": 10}


def test_two_pd_applications_never_share_a_dynamo_namespace() -> None:
    first = objects(plan(PD))
    other = doc(PD)
    other["metadata"]["name"] = "other"
    app = parse_application(other)
    assert isinstance(app, ArksApplication)
    second = {o["metadata"]["name"]: o for o in build_plan(app, shared_model(), PROFILES).objects}
    assert (
        env(first["app-qwen-dynamo-sglang-pd-decode"])["DYN_NAMESPACE"] != env(second["other-decode"])["DYN_NAMESPACE"]
    )
    assert value_after(group_argv(second["other-router"]), "--namespace") == f"{NAMESPACE}-other"


def test_multi_node_pd_groups_launch_sglangs_native_multi_node() -> None:
    two = {"instanceSpec": {"replicas": 2, "resources": {"limits": {"nvidia.com/gpu": "1"}}}, "tensorParallelSize": 2}
    objs = objects(plan(PD, prefill=two, decode=two))
    for role in ("prefill", "decode"):
        lws = objs[f"app-qwen-dynamo-sglang-pd-{role}"]
        leader, worker = group_argv(lws, "leader"), group_argv(lws, "worker")
        assert value_after(leader, "--node-rank") == "0"
        assert value_after(worker, "--node-rank") == "$(LWS_WORKER_INDEX)"
        for words in (leader, worker):
            assert value_after(words, "--dist-init-addr") == "$(LWS_LEADER_ADDRESS):20000"
            assert value_after(words, "--nnodes") == "$(LWS_GROUP_SIZE)"
            assert value_after(words, "--disaggregation-mode") == role
        assert "readinessProbe" in group_container(lws, "leader")
        assert "readinessProbe" not in group_container(lws, "worker")


def test_a_users_transfer_backend_replaces_nixl() -> None:
    objs = objects(plan(PD, decode={"extraOptions": ["--disaggregation-transfer-backend", "mooncake"]}))
    decode = group_argv(objs["app-qwen-dynamo-sglang-pd-decode"])
    assert "--disaggregation-transfer-backend=nixl" not in decode
    assert decode[-2:] == ["--disaggregation-transfer-backend", "mooncake"]


# --- precheck ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "field"),
    [
        ("--tp-size", "spec.tensorParallelSize"),
        ("--model-path", "spec.model.name"),
        ("--dist-init-addr", "the profile"),
        ("--namespace", "the profile"),
    ],
)
def test_flags_the_sglang_backend_sets_are_refused_in_extra_options(flag: str, field: str) -> None:
    result = checked(extraOptions=[flag, "x"])
    assert (result.passed, result.reason) == (False, "OptionSetByArks")
    assert result.message.startswith(f"spec.extraOptions[0]: {flag} is set by Arks from {field}")


def test_the_bootstrap_port_in_a_prefill_roles_options_is_refused_naming_the_role() -> None:
    result = checked(PD, prefill={"extraOptions": ["--disaggregation-bootstrap-port", "9000"]})
    assert (result.passed, result.reason) == (False, "OptionSetByArks")
    assert result.message.startswith("spec.prefill.extraOptions[0]: --disaggregation-bootstrap-port is set by Arks")


def test_ranks_must_split_evenly_over_the_nodes_as_sglang_requires() -> None:
    result = checked(tensorParallelSize=1)
    assert (result.passed, result.reason) == (False, "ParallelismNotDivisible")


def test_without_discovery_the_sglang_backend_is_refused_as_dynamo_is() -> None:
    result = checked(instanceSpec={"env": []})
    assert (result.passed, result.reason) == (False, "RuntimeEnvMissing")
    assert "ETCD_ENDPOINTS" in result.message


def test_an_installation_without_the_sglang_backend_refuses_it_naming_the_field() -> None:
    older = load_profiles(None, "vllm0.11-sglang0.5.4-dynamo1.0")
    result = precheck(application(), shared_model(), older)
    assert (result.passed, result.reason) == (False, "UnsupportedRuntime")
    assert result.message == (
        "spec.dynamo.backend: 'sglang' is not supported by this installation's dynamo profile; set it to one of "
        "['vllm']"
    )
    disabled = load_profiles("runtimes:\n  dynamo:\n    backends:\n      sglang:\n        enabled: false\n")
    result = precheck(application(), shared_model(), disabled)
    assert (result.passed, result.reason) == (False, "UnsupportedRuntime")
    assert result.message.endswith("set it to one of ['vllm']")


def test_a_profile_set_that_names_no_backend_still_runs_dynamo_with_vllm() -> None:
    """The older set's dynamo profile predates `backend`: it is the vLLM backend, as the API's default says."""
    older = load_profiles(None, "vllm0.11-sglang0.5.4-dynamo1.0")
    assert older.runtimes["dynamo"].backend is None
    for spec in ({}, {"dynamo": {"backend": "vllm"}}):
        obj = sample("application-vllm.yaml")
        obj["metadata"] |= {"namespace": NAMESPACE, "uid": APP_UID}
        obj["spec"] |= {"runtime": "dynamo", **spec}
        obj["spec"]["instanceSpec"]["env"] = [{"name": "ETCD_ENDPOINTS", "value": "http://etcd:2379"}]
        app = parse_application(obj)
        assert isinstance(app, ArksApplication)
        assert precheck(app, shared_model(), older).passed
        engine = next(c for c in script_commands(build_plan(app, shared_model(), older), "leader") if "-m" in c)
        assert "dynamo.vllm" in engine


# --- profiles ---------------------------------------------------------------------------------------------------


def test_the_backend_is_resolved_over_the_dynamo_profile_and_an_override_of_the_base_reaches_both() -> None:
    base = PROFILES.runtimes["dynamo"]
    sglang = PROFILES.profile_for("dynamo", "sglang")
    assert sglang is not None
    assert sglang.backend == "sglang"
    assert (sglang.image, base.image) == (IMAGE, "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1")
    assert (sglang.env, sglang.metrics_port, sglang.required_env) == (base.env, base.metrics_port, base.required_env)
    assert PROFILES.profile_for("dynamo") is base
    assert PROFILES.profile_for("dynamo", "vllm") is base
    overridden = load_profiles(
        "runtimes:\n  dynamo:\n    env: {DYN_LOG: debug}\n"
        "    backends:\n      sglang:\n        image: registry.example.com/sglang-runtime:1.6.1\n"
    )
    sg = overridden.profile_for("dynamo", "sglang")
    assert sg is not None
    assert sg.image == "registry.example.com/sglang-runtime:1.6.1"
    assert sg.env == {**base.env, "DYN_LOG": "debug"}
    assert overridden.runtimes["dynamo"].image == base.image
    assert overridden.fingerprint() != PROFILES.fingerprint()


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("runtimes:\n  dynamo:\n    backends:\n      trtllm: {}\n", "unknown engine backends ['trtllm']"),
        ("runtimes:\n  vllm:\n    backends:\n      sglang: {}\n", "runtimes.vllm: unknown engine backends"),
        ("runtimes:\n  dynamo:\n    backends:\n      sglang:\n        bogus: 1\n", "bogus"),
    ],
    ids=["an unknown backend", "a backend on a runtime without backends", "a typo in a backend"],
)
def test_a_bad_backend_in_an_override_fails_at_start_up(override: str, words: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profiles(override)
    assert words in str(caught.value)
