"""The plan: what an application becomes (SPEC §3), per runtime, and that it is deterministic."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable
from typing import Any

import pytest
from unit.planner.builders import (
    APP_UID,
    PROFILES,
    app,
    app_dict,
    argv,
    container,
    contains_run,
    lws,
    model,
    pod,
    script,
    script_commands,
    service,
    shared_model,
    single_node,
)

from arks_common.api.application import ArksApplication
from arks_planner.core.plan import Plan, build_plan, canonical_json
from arks_planner.core.precheck import parse_application
from arks_planner.core.profiles import load_profiles

MODEL_PATH = "/models/Qwen/Qwen2.5-7B-Instruct-1M"
MODELS_MOUNT = {"name": "models", "mountPath": "/models", "readOnly": True}
MODELS_VOLUME = {"name": "models", "persistentVolumeClaim": {"claimName": "qwen-7b", "readOnly": True}}
SHM_MOUNT = {"name": "arks-shm", "mountPath": "/dev/shm"}
SHM_VOLUME = {"name": "arks-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}


def vllm_plan() -> Plan:
    return build_plan(app(), model(), PROFILES)


def sglang_plan(**spec: Any) -> Plan:
    return build_plan(app("application-sglang.yaml", **spec), model(), PROFILES)


def dynamo_plan(nodes: int = 2) -> Plan:
    env = [{"name": "ETCD_ENDPOINTS", "value": "etcd:2379"}, {"name": "NATS_SERVER", "value": "nats://nats:4222"}]
    application = app(runtime="dynamo", instance={"replicas": nodes, "env": env})
    return build_plan(application, shared_model(), PROFILES)


# --- the guide's vLLM sample ---------------------------------------------------------------------------------


def test_the_guide_vllm_sample_becomes_a_two_pod_leaderworkerset() -> None:
    obj = lws(vllm_plan())
    assert obj["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    assert obj["kind"] == "LeaderWorkerSet"
    plan = vllm_plan()
    assert obj["metadata"] == {
        "name": "app-qwen-vllm",
        "namespace": "default",
        "labels": {
            "arks.ai/application": "app-qwen-vllm",
            "arks.ai/role": "serve",
            "app.kubernetes.io/managed-by": "arks",
        },
        "annotations": {"arks.ai/plan-hash": plan.plan_hash},
        "ownerReferences": [
            {
                "apiVersion": "arks.ai/v1",
                "kind": "ArksApplication",
                "name": "app-qwen-vllm",
                "uid": APP_UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    spec = obj["spec"]
    assert "replicas" not in spec, "the replica count has its own writer; the plan carries none"
    assert [(r.name, r.replicas_from, r.autoscaled) for r in plan.roles] == [("serve", "/spec/replicas", True)]
    assert spec["startupPolicy"] == "LeaderCreated"
    assert spec["leaderWorkerTemplate"]["size"] == 2
    assert spec["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert set(spec["leaderWorkerTemplate"]) == {"size", "restartPolicy", "leaderTemplate", "workerTemplate"}


def test_the_guide_vllm_leader_serves_with_vllms_native_multi_node_launch() -> None:
    words = argv(vllm_plan(), "leader")
    assert words[:3] == ["vllm", "serve", MODEL_PATH]
    for run in (
        ["--host", "0.0.0.0", "--port", "8080"],
        ["--served-model-name", "qwen-7b"],
        ["--tensor-parallel-size", "2"],
        ["--nnodes", "$(LWS_GROUP_SIZE)", "--node-rank", "0", "--master-addr", "$(LWS_LEADER_ADDRESS)"],
    ):
        assert contains_run(words, run), run
    assert "--headless" not in words
    assert not any("ray" in w for w in words), "no Ray unless a profile asks for it"


def test_the_guide_vllm_worker_runs_headless_ranks_of_the_leaders_engine() -> None:
    words = argv(vllm_plan(), "worker")
    assert words[:3] == ["vllm", "serve", MODEL_PATH]
    assert contains_run(words, ["--nnodes", "$(LWS_GROUP_SIZE)", "--node-rank", "$(LWS_WORKER_INDEX)"])
    assert contains_run(words, ["--master-addr", "$(LWS_LEADER_ADDRESS)"])
    assert contains_run(words, ["--tensor-parallel-size", "2"])
    assert "--headless" in words
    assert "--port" not in words


def test_the_older_profile_set_keeps_vllm_multi_node_on_ray() -> None:
    profiles = load_profiles(None, "vllm0.11-sglang0.5.4-dynamo1.0")
    plan = build_plan(app(), model(), profiles)
    commands = script_commands(plan, "leader")
    assert commands[0] == ["ray", "start", "--head", "--port=6379"]
    server = argv(plan, "leader")
    assert server[:4] == ["exec", "python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert contains_run(server, ["--distributed-executor-backend", "ray"])
    assert "ray start --address=$(LWS_LEADER_ADDRESS):6379 --block" in script(plan, "worker")
    assert container(plan, "leader")["image"] == "vllm/vllm-openai:v0.11.0"


def test_the_guide_vllm_pods_mount_the_model_read_only_at_models() -> None:
    plan = vllm_plan()
    for role in ("leader", "worker"):
        assert MODELS_MOUNT in container(plan, role)["volumeMounts"]
        assert MODELS_VOLUME in pod(plan, role)["spec"]["volumes"]
        assert container(plan, role)["resources"] == {
            "limits": {"nvidia.com/gpu": "1"},
            "requests": {"nvidia.com/gpu": "1"},
        }


def test_the_guide_vllm_service_selects_the_leaders_on_8080() -> None:
    svc = service(vllm_plan())
    assert svc["apiVersion"] == "v1"
    assert svc["kind"] == "Service"
    assert svc["metadata"]["name"] == "arks-application-app-qwen-vllm"
    assert svc["metadata"]["namespace"] == "default"
    assert svc["metadata"]["labels"] == {
        "arks.ai/application": "app-qwen-vllm",
        "arks.ai/role": "serve",
        "app.kubernetes.io/managed-by": "arks",
    }
    assert svc["spec"]["selector"] == {"arks.ai/application": "app-qwen-vllm", "arks.ai/work-load-role": "leader"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]


# --- the guide's SGLang sample --------------------------------------------------------------------------------

MULTI_NODE_ARGS = [
    "--dist-init-addr",
    "$(LWS_LEADER_ADDRESS):20000",
    "--nnodes",
    "$(LWS_GROUP_SIZE)",
    "--node-rank",
    "$(LWS_WORKER_INDEX)",
]


@pytest.mark.parametrize("role", ["leader", "worker"])
def test_the_guide_sglang_sample_gives_tp_multi_node_args_and_extra_options_in_order(role: str) -> None:
    words = argv(sglang_plan(), role)
    assert words[:3] == ["python3", "-m", "sglang.launch_server"]
    assert contains_run(words, ["--model-path", MODEL_PATH])
    assert contains_run(words, ["--served-model-name", "qwen-7b"])
    assert contains_run(words, ["--tp-size", "2"]), "SGLang 0.5.23 knows --tp only as an abbreviation"
    assert contains_run(words, MULTI_NODE_ARGS)
    assert "--trust-remote-code" in words
    assert words.count("--enable-metrics") == 1
    assert words[-2:] == ["--mem-fraction-static", "0.7"]
    assert words.index("--tp-size") < words.index("--dist-init-addr") < words.index("--mem-fraction-static")


def test_sglang_leader_gets_node_rank_from_worker_index() -> None:
    words = argv(sglang_plan(), "leader")
    assert words[words.index("--node-rank") + 1] == "$(LWS_WORKER_INDEX)"


def test_sglang_leader_listens_on_all_addresses_at_8080_and_workers_do_not() -> None:
    plan = sglang_plan()
    assert contains_run(argv(plan, "leader"), ["--host", "0.0.0.0", "--port", "8080"])
    assert "--port" not in argv(plan, "worker")
    assert container(plan, "leader")["ports"] == [{"name": "http", "containerPort": 8080}]
    assert "ports" not in container(plan, "worker")


@pytest.mark.parametrize("given", ["--enable-metrics", "--enable-metrics=true"])
def test_sglang_does_not_repeat_enable_metrics_the_user_gave(given: str) -> None:
    words = argv(sglang_plan(extraOptions=[given, "--mem-fraction-static", "0.7"]), "leader")
    assert [w for w in words if w.startswith("--enable-metrics")] == [given]


def test_single_node_sglang_skips_the_multi_node_args() -> None:
    words = argv(build_plan(single_node("sglang"), model(), PROFILES), "leader")
    assert "--dist-init-addr" not in words
    assert contains_run(words, ["--tp-size", "1"])


# --- Dynamo -------------------------------------------------------------------------------------------------


def test_dynamo_leader_runs_the_frontend_on_8080_beside_the_rank_0_engine() -> None:
    commands = script_commands(dynamo_plan(), "leader")
    frontend = next(c for c in commands if "dynamo.frontend" in c)
    engine = next(c for c in commands if "dynamo.vllm" in c)
    assert contains_run(frontend, ["python3", "-m", "dynamo.frontend", "--http-port", "8080"])
    assert contains_run(frontend, ["--namespace", "default-app-qwen-vllm"]), "the frontend sees its own engines only"
    assert contains_run(engine, ["--model", MODEL_PATH])
    assert contains_run(engine, ["--served-model-name", "qwen-7b"])
    assert contains_run(engine, ["--tensor-parallel-size", "2"])
    assert contains_run(engine, ["--nnodes", "$(LWS_GROUP_SIZE)", "--node-rank", "0"])
    assert contains_run(engine, ["--master-addr", "$(LWS_LEADER_ADDRESS)"])


def test_dynamo_workers_run_headless_engine_ranks() -> None:
    words = argv(dynamo_plan(), "worker")
    assert words[:3] == ["python3", "-m", "dynamo.vllm"]
    assert contains_run(words, ["--node-rank", "$(LWS_WORKER_INDEX)"])
    assert "--headless" in words
    assert "dynamo.frontend" not in words


def test_dynamo_reaches_etcd_and_nats_through_the_users_env_in_its_own_namespace() -> None:
    plan = dynamo_plan()
    for role in ("leader", "worker"):
        env = {e["name"]: e.get("value") for e in container(plan, role)["env"]}
        assert env == {
            "DYN_NAMESPACE": "default-app-qwen-vllm",
            "DYN_SYSTEM_PORT": "9090",
            "ETCD_ENDPOINTS": "etcd:2379",
            "NATS_SERVER": "nats://nats:4222",
        }
        assert {"name": "metrics", "containerPort": 9090} in container(plan, role)["ports"]
    assert container(plan, "leader")["image"] == "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"


def test_a_users_env_variable_replaces_the_profiles_of_the_same_name() -> None:
    env = [{"name": "ETCD_ENDPOINTS", "value": "e:2379"}, {"name": "DYN_NAMESPACE", "value": "mine"}]
    plan = build_plan(app(runtime="dynamo", instance={"env": env}), shared_model(), PROFILES)
    names = [e["name"] for e in container(plan, "leader")["env"]]
    assert names.count("DYN_NAMESPACE") == 1
    assert {"name": "DYN_NAMESPACE", "value": "mine"} in container(plan, "leader")["env"]


def test_dynamo_leader_is_ready_only_when_the_frontend_lists_the_served_model() -> None:
    probe = container(dynamo_plan(), "leader")["readinessProbe"]
    command = probe["exec"]["command"]
    assert command[:2] == ["python3", "-c"]
    assert "http://127.0.0.1:8080/v1/models" in command[2]
    assert command[3] == "qwen-7b"
    assert "readinessProbe" not in container(dynamo_plan(), "worker")


def test_single_node_dynamo_runs_engine_and_frontend_in_the_one_pod() -> None:
    text = script(dynamo_plan(nodes=1), "leader")
    assert "python3 -m dynamo.frontend --http-port 8080 --namespace default-app-qwen-vllm &" in text
    assert "--headless" not in text
    assert "--nnodes" not in text


# --- single-node groups and pass-through fields ---------------------------------------------------------------


def test_a_one_pod_group_is_its_leader_in_the_worker_template() -> None:
    plan = build_plan(single_node(), model(), PROFILES)
    template = lws(plan)["spec"]["leaderWorkerTemplate"]
    assert "leaderTemplate" not in template
    assert template["size"] == 1
    assert template["workerTemplate"]["metadata"]["labels"]["arks.ai/work-load-role"] == "leader"
    assert container(plan, "leader")["ports"] == [{"name": "http", "containerPort": 8080}]


def test_single_node_vllm_has_no_multi_node_flags() -> None:
    words = argv(build_plan(single_node(), model(), PROFILES), "leader")
    assert words[:3] == ["vllm", "serve", MODEL_PATH]
    assert "--nnodes" not in words
    assert "--distributed-executor-backend" not in words
    assert contains_run(words, ["--tensor-parallel-size", "1"])


def _leader(**spec: Any) -> dict[str, Any]:
    instance = spec.pop("instance", {})
    return container(build_plan(app(instance=instance, **spec), shared_model(), PROFILES), "leader")


def _leader_pod(**spec: Any) -> dict[str, Any]:
    instance = spec.pop("instance", {})
    return pod(build_plan(app(instance=instance, **spec), shared_model(), PROFILES), "leader")


PROBE = {"exec": {"command": ["true"]}, "periodSeconds": 7}

PASS_THROUGH: list[tuple[str, Callable[[], object], object]] = [
    ("the runtime image defaults to the profile's", lambda: _leader()["image"], "vllm/vllm-openai:v0.33.0"),
    ("a runtimeImage replaces the default", lambda: _leader(runtimeImage="my/vllm:1")["image"], "my/vllm:1"),
    ("the container is named runtime", lambda: _leader()["name"], "runtime"),
    (
        "servedModelName replaces the model name",
        lambda: contains_run(
            argv(build_plan(app(servedModelName="qwen"), model(), PROFILES), "leader"), ["--served-model-name", "qwen"]
        ),
        True,
    ),
    (
        "tensor parallelism defaults to 1",
        lambda: contains_run(
            argv(build_plan(single_node(tensorParallelSize=None), model(), PROFILES), "leader"),
            ["--tensor-parallel-size", "1"],
        ),
        True,
    ),
    (
        "the leader gets an HTTP readiness probe by default",
        lambda: _leader()["readinessProbe"],
        {"httpGet": {"path": "/health", "port": 8080}},
    ),
    (
        "a user readiness probe replaces the default",
        lambda: _leader(instance={"readinessProbe": PROBE})["readinessProbe"],
        PROBE,
    ),
    (
        "a user liveness probe reaches the leader",
        lambda: _leader(instance={"livenessProbe": PROBE})["livenessProbe"],
        PROBE,
    ),
    (
        "a user startup probe reaches the leader",
        lambda: _leader(instance={"startupProbe": PROBE})["startupProbe"],
        PROBE,
    ),
    (
        "workers get no probes",
        lambda: sorted(
            k
            for k in container(build_plan(app(instance={"livenessProbe": PROBE}), model(), PROFILES), "worker")
            if k.endswith("Probe")
        ),
        [],
    ),
    (
        "the security context passes through",
        lambda: _leader(instance={"securityContext": {"runAsUser": 1000}})["securityContext"],
        {"runAsUser": 1000},
    ),
    (
        "env passes through, valueFrom included",
        lambda: _leader(instance={"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]})[
            "env"
        ],
        [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    ),
    (
        "user mounts come before the model mount",
        lambda: _leader(instance={"volumeMounts": [{"name": "cache", "mountPath": "/cache"}]})["volumeMounts"],
        [{"name": "cache", "mountPath": "/cache"}, MODELS_MOUNT, SHM_MOUNT],
    ),
    (
        "user volumes come before the model volume, kept as written",
        lambda: _leader_pod(instance={"volumes": [{"name": "cache", "emptyDir": {"medium": "Memory"}}]})["spec"][
            "volumes"
        ],
        [{"name": "cache", "emptyDir": {"medium": "Memory"}}, MODELS_VOLUME, SHM_VOLUME],
    ),
    (
        "every pod gets a memory-backed /dev/shm",
        lambda: (_leader()["volumeMounts"], _leader_pod()["spec"]["volumes"]),
        ([MODELS_MOUNT, SHM_MOUNT], [MODELS_VOLUME, SHM_VOLUME]),
    ),
    (
        "a user mount at /dev/shm replaces ours",
        lambda: _leader_pod(
            instance={
                "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
                "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
            }
        )["spec"]["volumes"],
        [{"name": "shm", "emptyDir": {"medium": "Memory"}}, MODELS_VOLUME],
    ),
    (
        "user labels join ours and ours win",
        lambda: _leader_pod(instance={"labels": {"team": "a", "arks.ai/application": "evil"}})["metadata"]["labels"],
        {
            "team": "a",
            "arks.ai/application": "app-qwen-vllm",
            "arks.ai/model": "qwen-7b",
            "arks.ai/role": "serve",
            "arks.ai/work-load-role": "leader",
            "arks.ai/served-model": "qwen-7b",
            "arks.ai/endpoint-backend": "true",
        },
    ),
    (
        "user annotations pass through",
        lambda: _leader_pod(instance={"annotations": {"a": "b"}})["metadata"]["annotations"],
        {"a": "b"},
    ),
    (
        "scheduling fields pass through",
        lambda: {
            k: v
            for k, v in _leader_pod(
                instance={
                    "nodeSelector": {"gpu": "a100"},
                    "affinity": {"nodeAffinity": {}},
                    "schedulerName": "volcano",
                    "tolerations": [{"key": "gpu", "operator": "Exists"}],
                    "serviceAccountName": "sa",
                    "priorityClassName": "high",
                },
                runtimeImagePullSecrets=[{"name": "regcred"}],
            )["spec"].items()
            if k not in ("containers", "volumes", "automountServiceAccountToken")
        },
        {
            "nodeSelector": {"gpu": "a100"},
            "affinity": {"nodeAffinity": {}},
            "schedulerName": "volcano",
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
            "serviceAccountName": "sa",
            "priorityClassName": "high",
            "imagePullSecrets": [{"name": "regcred"}],
        },
    ),
]


@pytest.mark.parametrize("runtime", ["vllm", "sglang", "dynamo"])
@pytest.mark.parametrize("nodes", [1, 2])
def test_runtime_pods_mount_no_api_token_unless_the_user_names_an_account(runtime: str, nodes: int) -> None:
    for role in ("leader", "worker") if nodes > 1 else ("leader",):
        plain = pod(build_plan(app(runtime=runtime, instance={"replicas": nodes}), shared_model(), PROFILES), role)
        assert plain["spec"]["automountServiceAccountToken"] is False
        assert "serviceAccountName" not in plain["spec"]
        named = app(runtime=runtime, instance={"replicas": nodes, "serviceAccountName": "dynamo-discovery"})
        spec = pod(build_plan(named, shared_model(), PROFILES), role)["spec"]
        assert spec["serviceAccountName"] == "dynamo-discovery"
        assert "automountServiceAccountToken" not in spec  # the account's own setting holds


@pytest.mark.parametrize(("read", "expected"), [p[1:] for p in PASS_THROUGH], ids=[p[0] for p in PASS_THROUGH])
def test_pass_through(read: Callable[[], object], expected: object) -> None:
    assert read() == expected


def _walk(value: object, path: str = "") -> list[str]:
    """Paths of every null, empty list or empty map."""
    if value is None or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _walk(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _walk(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("runtime", ["vllm", "sglang", "dynamo"])
def test_plans_hold_no_nulls_or_empty_fields_and_only_the_metadata_arks_sets(runtime: str) -> None:
    for plan in (
        build_plan(app(runtime=runtime), model(), PROFILES),
        build_plan(single_node(runtime), model(), PROFILES),
    ):
        assert _walk(plan.objects) == []
        for obj in plan.objects:
            assert set(obj["metadata"]) == {"name", "namespace", "labels", "annotations", "ownerReferences"}


# --- extraOptions survive quoting ------------------------------------------------------------------------------

AWKWARD = ["--chat-template", '{% if x %}it\'s "quoted"{% endif %}', "--note", "two words; rm -rf /", "$HOME", "--x="]


def test_extra_options_with_spaces_and_quotes_survive_the_shell_script_in_order() -> None:
    plan = build_plan(app(extraOptions=AWKWARD), model(), PROFILES)
    words = argv(plan, "leader")
    assert words[-len(AWKWARD) :] == AWKWARD


def test_extra_options_with_spaces_and_quotes_are_separate_argv_items() -> None:
    words = argv(build_plan(app("application-sglang.yaml", extraOptions=AWKWARD), model(), PROFILES), "worker")
    assert words[-len(AWKWARD) :] == AWKWARD


def test_extra_options_survive_the_dynamo_engine_script() -> None:
    commands = script_commands(dynamo_plan(nodes=1), "leader")
    engine = next(c for c in commands if "dynamo.vllm" in c)
    assert engine[-1] == "&"
    plan = build_plan(app(runtime="dynamo", extraOptions=AWKWARD, instance={"replicas": 1}), model(), PROFILES)
    engine = next(c for c in script_commands(plan, "leader") if "dynamo.vllm" in c)
    assert engine[-1 - len(AWKWARD) : -1] == AWKWARD


def test_a_model_path_with_odd_characters_is_quoted_in_scripts() -> None:
    odd = model()
    odd = odd.model_copy(update={"spec": odd.spec.model_copy(update={"model": "org/it's model"})})
    dynamo = app(runtime="dynamo")
    words = [w for line in script_commands(build_plan(dynamo, odd, PROFILES), "leader") for w in line]
    assert contains_run(words, ["--model", "/models/org/it's model"])
    assert shlex.join(["--model", "/models/org/it's model"]) in script(build_plan(dynamo, odd, PROFILES), "leader")
    assert argv(build_plan(app(), odd, PROFILES), "leader")[2] == "/models/org/it's model"


# --- determinism ----------------------------------------------------------------------------------------------


def test_the_same_inputs_give_identical_json_bytes_and_hash() -> None:
    first, second = vllm_plan(), vllm_plan()
    assert canonical_json(first.objects) == canonical_json(second.objects)
    assert first.plan_hash == second.plan_hash
    unstamped = [
        {**o, "metadata": {k: v for k, v in o["metadata"].items() if k not in ("annotations", "ownerReferences")}}
        for o in first.objects
    ]
    assert first.plan_hash == hashlib.sha256(canonical_json(unstamped)).hexdigest()
    assert len(first.plan_hash) == 64


def test_key_order_of_the_input_object_does_not_change_the_hash() -> None:
    obj = app_dict()
    reordered = {k: obj[k] for k in reversed(list(obj))}
    reordered["spec"] = {k: obj["spec"][k] for k in reversed(list(obj["spec"]))}
    a, b = parse_application(obj), parse_application(reordered)
    assert isinstance(a, ArksApplication)
    assert isinstance(b, ArksApplication)
    assert build_plan(a, model(), PROFILES).plan_hash == build_plan(b, model(), PROFILES).plan_hash


HASH_CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("a changed image changes the hash", {"runtimeImage": "vllm/vllm-openai:v0.12.0"}),
    ("a changed extra option changes the hash", {"extraOptions": ["--max-model-len", "4096"]}),
    ("a changed served model name changes the hash", {"servedModelName": "other"}),
]


@pytest.mark.parametrize("spec", [h[1] for h in HASH_CHANGES], ids=[h[0] for h in HASH_CHANGES])
def test_hash_changes(spec: dict[str, Any]) -> None:
    assert build_plan(app(**spec), model(), PROFILES).plan_hash != vllm_plan().plan_hash


def test_every_object_carries_the_plan_hash_and_its_owner() -> None:
    plan = vllm_plan()
    for obj in plan.objects:
        assert obj["metadata"]["annotations"] == {"arks.ai/plan-hash": plan.plan_hash}
        assert [r["uid"] for r in obj["metadata"]["ownerReferences"]] == [APP_UID]


def test_a_changed_replica_count_changes_neither_the_hash_nor_the_objects() -> None:
    """The count has its own single writer (spec.replicas or the slo-scaler): scaling is not a new plan."""
    scaled = build_plan(app(replicas=2), model(), PROFILES)
    assert scaled.plan_hash == vllm_plan().plan_hash
    assert canonical_json(scaled.objects) == canonical_json(vllm_plan().objects)


def test_extra_options_holding_a_flag_and_its_value_are_split_as_a_shell_would() -> None:
    options = ["--max-model-len 32768", "--override-generation-config", '{"temperature": 0.5}', "--x 'a b'"]
    words = argv(build_plan(app(extraOptions=options), shared_model(), PROFILES), "leader")
    assert words[-6:] == [
        "--max-model-len",
        "32768",
        "--override-generation-config",
        '{"temperature": 0.5}',
        "--x",
        "a b",
    ]


def test_a_split_option_counts_as_given_for_the_default_flags() -> None:
    words = argv(
        build_plan(app("application-sglang.yaml", extraOptions=["--enable-metrics false"]), shared_model(), PROFILES),
        "leader",
    )
    assert [w for w in words if w.startswith("--enable-metrics")] == ["--enable-metrics"]
    assert words[-2:] == ["--enable-metrics", "false"]


# --- a model volume only one node can mount ---------------------------------------------------------------


def test_pods_of_a_readwriteonce_model_are_held_on_one_node_beside_the_users_affinity() -> None:
    user_affinity: dict[str, Any] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
    }
    plan = build_plan(app(instance={"affinity": user_affinity}), model("ReadWriteOnce"), PROFILES)
    for role in ("leader", "worker"):
        template = pod(plan, role)
        assert template["metadata"]["labels"]["arks.ai/model-claim"] == "qwen-7b"
        affinity = template["spec"]["affinity"]
        assert affinity["nodeAffinity"] == user_affinity["nodeAffinity"]
        assert affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
            {
                "labelSelector": {"matchLabels": {"arks.ai/model-claim": "qwen-7b"}},
                "topologyKey": "kubernetes.io/hostname",
            }
        ]


def test_pods_of_a_shared_model_spread_freely() -> None:
    template = pod(build_plan(app(), shared_model(), PROFILES), "worker")
    assert "arks.ai/model-claim" not in template["metadata"]["labels"]
    assert "affinity" not in template["spec"]


def test_a_long_claim_name_becomes_a_valid_label_value() -> None:
    rwo = model("ReadWriteOnce")
    pvc = rwo.spec.storage.pvc.model_copy(update={"name": "c" * 200})
    arks_model = rwo.model_copy(
        update={"spec": rwo.spec.model_copy(update={"storage": rwo.spec.storage.model_copy(update={"pvc": pvc})})}
    )
    label = pod(build_plan(app(), arks_model, PROFILES), "leader")["metadata"]["labels"]["arks.ai/model-claim"]
    assert len(label) <= 63
    assert label.startswith("sha256-")
