"""ArksApplication end to end: `kubectl apply` → watcher → planner → deployer → a LeaderWorkerSet whose pods
run on fake GPU nodes, with a truthful status. Every service is a separate process; NATS and Kubernetes
are real."""

from __future__ import annotations

import copy
import json
import shlex
from typing import Any

import pytest

from support.builders import rwx_model, sample, small_app
from support.e2e import ROOT, Env, wait_until

pytestmark = pytest.mark.cluster

QUICKSTART_MODEL = ROOT / "deploy" / "samples" / "quickstart" / "model.yaml"


def container(pod_template: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = pod_template["spec"]["containers"][0]
    return c


def conditions(app: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in app["status"]["conditions"]}


def precheck_of(app: dict[str, Any]) -> tuple[str, str] | None:
    """The Precheck condition's status and reason when it judges the application's current generation."""
    generation = app["metadata"].get("generation")
    for c in (app.get("status") or {}).get("conditions") or []:
        if c["type"] == "Precheck" and c.get("observedGeneration") == generation:
            return c["status"], c["reason"]
    return None


def settled(arks: Env, name: str, namespace: str) -> dict[str, Any] | None:
    """The application once its Ready reason is Running: every group of the newest plan ready and updated."""
    app = arks.get("arksapplication", name, namespace)
    found = ((app or {}).get("status") or {}).get("conditions") or []
    return app if any(c["type"] == "Ready" and c.get("reason") == "Running" for c in found) else None


def test_guide_vllm_sample_runs_with_the_guides_status(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply_file(ns, ROOT / "deploy" / "samples" / "application-vllm.yaml")
    app = arks.wait_phase("app-qwen-vllm", ns, "Running")

    assert conditions(app) == {
        "Precheck": ("True", "PrecheckPass", "The application passed the pre-checking"),
        "Loaded": ("True", "ModelLoadSucceeded", "The referenced model is loaded"),
        "Ready": ("True", "Running", "The LLM service is running"),
    }
    assert (app["status"]["replicas"], app["status"]["readyReplicas"]) == (1, 1)
    table = arks.kubectl("get", "arksapplications", "-n", ns).splitlines()
    assert table[0].split() == ["NAME", "PHASE", "REPLICAS", "READY", "AGE"]
    assert table[1].split()[:4] == ["app-qwen-vllm", "Running", "1", "1"]
    wide = arks.kubectl("get", "arkapp", "-n", ns, "-o", "wide").splitlines()
    assert wide[0].split()[5:] == ["MODEL", "RUNTIME", "DRIVER", "PREFILL", "DECODE"]
    assert wide[1].split()[5:] == ["qwen-7b", "vllm", "lws"]  # an aggregated application: no prefill or decode

    lws = arks.get("leaderworkerset", "app-qwen-vllm", ns)
    assert lws is not None
    tmpl = lws["spec"]["leaderWorkerTemplate"]
    assert tmpl["size"] == 2
    assert lws["metadata"]["ownerReferences"][0]["kind"] == "ArksApplication"
    leader_args = " ".join(_argv(tmpl["leaderTemplate"]))
    worker_args = " ".join(_argv(tmpl["workerTemplate"]))
    assert leader_args.startswith("vllm serve /models/Qwen/Qwen2.5-7B-Instruct-1M ")
    assert "--tensor-parallel-size 2" in leader_args
    assert "--served-model-name qwen-7b" in leader_args
    assert "--nnodes $(LWS_GROUP_SIZE) --node-rank 0 --master-addr $(LWS_LEADER_ADDRESS)" in leader_args
    assert "--node-rank $(LWS_WORKER_INDEX) --master-addr $(LWS_LEADER_ADDRESS) --headless" in worker_args
    for template in (tmpl["leaderTemplate"], tmpl["workerTemplate"]):
        mounts = container(template)["volumeMounts"]
        assert {"name": "models", "mountPath": "/models", "readOnly": True} in mounts
        assert {"name": "arks-shm", "mountPath": "/dev/shm"} in mounts
        shm = next(v for v in template["spec"]["volumes"] if v["name"] == "arks-shm")
        assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}

    svc = arks.get("service", "arks-application-app-qwen-vllm", ns)
    assert svc is not None
    assert [p["port"] for p in svc["spec"]["ports"]] == [8080]
    assert svc["spec"]["selector"]["arks.ai/work-load-role"] == "leader"

    pods = {p["metadata"]["name"]: p for p in arks.items("pods", ns, "arks.ai/application=app-qwen-vllm")}
    assert set(pods) == {"app-qwen-vllm-0", "app-qwen-vllm-0-1"}
    for pod in pods.values():
        assert pod["status"]["phase"] == "Running"
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
        assert pod["spec"]["nodeName"].startswith("gpu-")
        env = {e["name"] for e in container(pod)["env"]}
        assert {"LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"} <= env
    assert pods["app-qwen-vllm-0"]["metadata"]["labels"]["arks.ai/work-load-role"] == "leader"
    assert pods["app-qwen-vllm-0-1"]["metadata"]["labels"]["arks.ai/work-load-role"] == "worker"


def _argv(template: dict[str, Any]) -> list[str]:
    c = container(template)
    words = [*c.get("command", []), *c.get("args", [])]
    if words[:2] == ["sh", "-c"] or words[:2] == ["/bin/sh", "-c"]:
        return shlex.split(words[2])
    return words


def test_guide_sglang_sample_passes_multi_node_args_and_extra_options_in_order(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply_file(ns, ROOT / "deploy" / "samples" / "application-sglang.yaml")
    arks.wait_phase("app-qwen", ns, "Running")
    lws = arks.get("leaderworkerset", "app-qwen", ns)
    assert lws is not None
    tmpl = lws["spec"]["leaderWorkerTemplate"]
    for role in ("leaderTemplate", "workerTemplate"):
        argv = _argv(tmpl[role])
        joined = " ".join(argv)
        assert "sglang.launch_server" in joined
        assert "--tp-size 2" in joined
        assert "--dist-init-addr $(LWS_LEADER_ADDRESS):20000 --nnodes $(LWS_GROUP_SIZE)" in joined
        assert "--node-rank $(LWS_WORKER_INDEX)" in joined
        assert argv[-2:] == ["--mem-fraction-static", "0.7"]
    assert "--port 8080" in " ".join(_argv(tmpl["leaderTemplate"]))


@pytest.mark.parametrize(
    ("backend", "engine", "image"),
    [
        (None, "dynamo.vllm", "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"),
        ("sglang", "dynamo.sglang", "nvcr.io/nvidia/ai-dynamo/sglang-runtime:1.6.1"),
    ],
    ids=["vllm backend (default)", "sglang backend"],
)
def test_dynamo_application_comes_up(arks: Env, ns: str, backend: str | None, engine: str, image: str) -> None:
    arks.ready_model(ns, rwx_model())
    app = small_app("dyn", runtime="dynamo", tensorParallelSize=2)  # one rank on each of the two nodes
    if backend is not None:
        app["spec"]["dynamo"] = {"backend": backend}
    app["spec"]["instanceSpec"]["replicas"] = 2
    app["spec"]["instanceSpec"]["env"] = [
        {"name": "ETCD_ENDPOINTS", "value": "http://etcd:2379"},
        {"name": "NATS_SERVER", "value": "nats://nats:4222"},
    ]
    arks.apply(ns, app)
    arks.wait_phase("dyn", ns, "Running")
    lws = arks.get("leaderworkerset", "dyn", ns)
    assert lws is not None
    leader = " ".join(_argv(lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]))
    assert f"dynamo.frontend --http-port 8080 --namespace {ns}-dyn" in leader
    assert f"python3 -m {engine} " in leader
    worker = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    assert _argv(worker)[:3] == ["python3", "-m", engine]
    assert container(worker)["image"] == image
    env = {e["name"]: e.get("value") for e in container(worker)["env"]}
    assert env["DYN_NAMESPACE"] == f"{ns}-dyn"
    pods = arks.items("pods", ns, "arks.ai/application=dyn")
    assert len(pods) == 2
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {image}


def test_dynamo_application_without_discovery_fails_with_a_clear_message(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("dyn-alone", runtime="dynamo"))
    status, reason, message = conditions(arks.wait_phase("dyn-alone", ns, "Failed"))["Precheck"]
    assert (status, reason) == ("False", "RuntimeEnvMissing")
    assert "spec.instanceSpec.env" in message
    assert "ETCD_ENDPOINTS" in message
    assert arks.get("leaderworkerset", "dyn-alone", ns) is None


PRECHECK_CASES = [
    ("missing model", {"model": {"name": "nope"}}, "ModelNotFound", {"model": {"name": "qwen-7b"}}),
    (
        "tensor parallelism larger than the group",
        {"tensorParallelSize": 4},
        "TensorParallelTooLarge",
        {"tensorParallelSize": 1},
    ),
]


@pytest.mark.parametrize(("case", "bad", "reason", "fix"), PRECHECK_CASES, ids=[c[0] for c in PRECHECK_CASES])
def test_precheck_failure_is_reported_and_a_fix_recovers(
    arks: Env, ns: str, case: str, bad: dict[str, Any], reason: str, fix: dict[str, Any]
) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("neighbour"))
    arks.wait_phase("neighbour", ns, "Running")
    # settled: phase Running comes with Ready reason Updating until the LeaderWorkerSet reports its group updated
    # too (a few ms later, one more status write), and the neighbour's versions are compared below
    neighbour = wait_until(lambda: settled(arks, "neighbour", ns), 60, "the neighbour's Ready reason Running")
    neighbour_lws = arks.get("leaderworkerset", "neighbour", ns)
    assert neighbour_lws is not None

    broken = small_app("broken")
    broken["spec"].update(bad)
    before = arks.applications_version(ns)
    arks.apply(ns, broken)
    app = arks.wait_phase("broken", ns, "Failed")
    failed = [
        v
        for v in arks.application_history(ns, "broken", before, app["metadata"]["resourceVersion"])
        if (v.get("status") or {}).get("phase") == "Failed"
    ]
    # no version, however short-lived, says Failed without the Precheck condition that says why
    assert [precheck_of(v) for v in failed] == [("False", reason)] * len(failed)
    status, got_reason, message = conditions(app)["Precheck"]
    assert (status, got_reason) == ("False", reason)
    assert "spec." in message  # names the field to change
    assert arks.get("leaderworkerset", "broken", ns) is None
    events = arks.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=broken")
    assert reason in events

    broken["spec"].update(fix)
    arks.apply(ns, broken)
    arks.wait_phase("broken", ns, "Running")
    after = arks.get("arksapplication", "neighbour", ns)
    after_lws = arks.get("leaderworkerset", "neighbour", ns)
    assert after is not None
    assert after_lws is not None
    assert after["metadata"]["resourceVersion"] == neighbour["metadata"]["resourceVersion"]
    assert after_lws["metadata"]["resourceVersion"] == neighbour_lws["metadata"]["resourceVersion"]


def test_both_guides_samples_run_together_on_the_read_write_once_models_node(arks: Env, ns: str) -> None:
    """The ArksModel guide's model (ReadWriteOnce, local-path) with each ArksApplication guide sample, as written."""
    arks.ready_model(ns, sample("model.yaml"))
    for name in ("application-vllm.yaml", "application-sglang.yaml"):
        arks.apply(ns, sample(name))
    for app in ("app-qwen-vllm", "app-qwen"):
        arks.wait_phase(app, ns, "Running")

    pvc = arks.get("persistentvolumeclaim", "qwen-7b", ns)
    assert pvc is not None
    volume = arks.get("persistentvolume", pvc["spec"]["volumeName"], "")
    assert volume is not None
    node = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0]
    pods = arks.items("pods", ns, "arks.ai/model=qwen-7b,arks.ai/application")
    assert len(pods) == 4
    assert {p["spec"]["nodeName"] for p in pods} == {node}, "every pod sits on the volume's node"
    for app in ("app-qwen-vllm", "app-qwen"):
        events = arks.kubectl("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={app}")
        assert "PlacedOnOneNode" in events
        assert "cannot spread across nodes" in events


def test_a_group_larger_than_any_node_on_a_read_write_once_model_fails_precheck(arks: Env, ns: str) -> None:
    model = rwx_model("rwo")
    model["spec"]["storage"]["pvc"]["spec"]["accessModes"] = ["ReadWriteOnce"]
    arks.ready_model(ns, model)
    app = small_app("multi", model="rwo", tensorParallelSize=16)
    app["spec"]["instanceSpec"] = {"replicas": 2, "resources": {"limits": {"nvidia.com/gpu": "8"}}}
    arks.apply(ns, app)
    status, reason, message = conditions(arks.wait_phase("multi", ns, "Failed"))["Precheck"]
    assert (status, reason) == ("False", "GroupDoesNotFitNode")
    assert "needs 16 GPUs" in message
    assert "has 8" in message
    assert "ReadWriteMany" in message


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("volumes", [{"name": "models", "emptyDir": {}}], "spec.instanceSpec.volumes[0].name"),
        ("volumeMounts", [{"name": "x", "mountPath": "/models"}], "spec.instanceSpec.volumeMounts[0].mountPath"),
    ],
    ids=["a volume named models", "a mount at /models"],
)
def test_api_server_refuses_reserved_volume_names_and_paths(
    arks: Env, ns: str, field: str, value: Any, path: str
) -> None:
    app = small_app("reserved")
    app["spec"]["instanceSpec"][field] = value
    proc = arks.cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(app), check=False)
    assert proc.returncode != 0
    assert path in proc.stderr
    assert "reserved" in proc.stderr


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"runtime": "tensorrt"}, "spec.runtime"),
        ({"replicas": -1}, "spec.replicas"),
        ({"driver": "deployment"}, "spec.driver"),
        ({"tensorParallelSize": 0}, "spec.tensorParallelSize"),
        ({"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "spec.autoscaling.minReplicas"),
        ({"dynamo": {"backend": "sglang"}}, "spec.dynamo: Invalid value"),
        ({"runtime": "dynamo", "dynamo": {"backend": "trtllm"}}, "spec.dynamo.backend"),
    ],
    ids=[
        "unknown runtime",
        "negative replicas",
        "unknown driver",
        "zero tensor parallelism",
        "min above max",
        "dynamo settings on vllm",
        "unknown dynamo backend",
    ],
)
def test_api_server_refuses_bad_specs_naming_the_field(arks: Env, ns: str, bad: dict[str, Any], path: str) -> None:
    proc = arks.cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(small_app("x", **bad)), check=False)
    assert proc.returncode != 0
    assert path in proc.stderr


def test_api_server_accepts_the_guides_samples_with_their_defaults(arks: Env, ns: str) -> None:
    for name in ("application-vllm.yaml", "application-sglang.yaml"):
        arks.apply_file(ns, ROOT / "deploy" / "samples" / name)
    sglang = arks.get("arksapplication", "app-qwen", ns)
    assert sglang is not None
    assert (sglang["spec"]["driver"], sglang["spec"]["runtime"]) == ("lws", "sglang")
    assert sglang["spec"]["extraOptions"] == ["--mem-fraction-static", "0.7"]
    assert "servedModelName" not in sglang["spec"]  # falls back to model.name when the plan is made


def _lws_replicas(arks: Env, ns: str, name: str) -> int:
    lws = arks.get("leaderworkerset", name, ns)
    return int((lws or {}).get("spec", {}).get("replicas", -1))


def _ready_groups(arks: Env, ns: str, name: str, count: int) -> bool:
    app = arks.get("arksapplication", name, ns) or {}
    status = app.get("status") or {}
    return status.get("readyReplicas") == count and status.get("replicas") == count


def test_scale_through_spec_and_through_kubectl_scale(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("scaled"))
    arks.wait_phase("scaled", ns, "Running")
    lws_uid = (arks.get("leaderworkerset", "scaled", ns) or {})["metadata"]["uid"]

    arks.kubectl("patch", "arkapp", "scaled", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":3}}')
    wait_until(lambda: _ready_groups(arks, ns, "scaled", 3), 90, "3 ready groups through spec.replicas")
    assert _lws_replicas(arks, ns, "scaled") == 3
    arks.kubectl("patch", "arkapp", "scaled", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":1}}')
    wait_until(lambda: _ready_groups(arks, ns, "scaled", 1), 90, "1 ready group through spec.replicas")

    arks.kubectl("scale", "arkapp/scaled", "-n", ns, "--replicas=3")
    wait_until(lambda: _ready_groups(arks, ns, "scaled", 3), 90, "3 ready groups through kubectl scale")
    scale = json.loads(arks.kubectl("get", "--raw", f"/apis/arks.ai/v1/namespaces/{ns}/arksapplications/scaled/scale"))
    assert scale["spec"]["replicas"] == 3
    assert scale["status"]["selector"] == "arks.ai/application=scaled,arks.ai/work-load-role=leader"
    arks.kubectl("scale", "arkapp/scaled", "-n", ns, "--replicas=1")
    wait_until(lambda: _ready_groups(arks, ns, "scaled", 1), 90, "1 ready group through kubectl scale")
    assert (arks.get("leaderworkerset", "scaled", ns) or {})["metadata"]["uid"] == lws_uid  # scaled in place
    assert len(arks.items("pods", ns, "arks.ai/application=scaled")) == 1


def test_a_creation_tells_each_step_once(arks: Env, ns: str) -> None:
    """The Events of a creation, one per step: the planner's verdict, the model's gate, the objects created (one
    Event naming the LeaderWorkerSet and the Service) and the service running; the phases on the way up are not
    told again and nothing is told twice."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("told"))
    arks.wait_phase("told", ns, "Running")

    app = {"kind": "ArksApplication", "name": "told"}  # its LeaderWorkerSet has the same name

    def told() -> list[tuple[str, int]]:
        events = [e for e in arks.items("events", ns) if e["involvedObject"] == {**e["involvedObject"], **app}]
        return sorted((e["reason"], int(e.get("count", 1))) for e in events)

    expected = [("Created", 1), ("ModelLoadSucceeded", 1), ("PrecheckPass", 1), ("Running", 1)]
    try:
        wait_until(lambda: told() == expected, 30, f"the Events {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the Events: {told()}") from exc
    [created] = [
        e
        for e in arks.items("events", ns)
        if e["reason"] == "Created" and (e.get("source") or {}).get("component") == "arks-deployer"
    ]
    assert "LeaderWorkerSet told" in created["message"]
    assert "Service arks-application-told" in created["message"]


def test_with_the_planner_away_a_new_application_says_it_waits_for_it(arks: Env, ns: str) -> None:
    """The deployer holds a brand-new application's waiting phase back for a moment (the planner and the
    model-loader usually judge within milliseconds); when nothing else happens — the planner and the model-loader
    are away, so no other write wakes the deployer — the phase is still written once the moment is over, and the
    application moves on when they are back."""
    arks.ready_model(ns, rwx_model())
    away = ("planner", "model-loader")
    for service in away:
        arks.system[service].stop()
    try:
        arks.apply(ns, small_app("unjudged"))
        # not `wait_phase`: no plan, so the status describes no generation yet (observedGeneration 0)
        wait_until(lambda: arks.phase("unjudged", ns) == "Checking", 30, "the phase Checking")
        app = arks.get("arksapplication", "unjudged", ns) or {}
        [ready] = [c for c in app["status"]["conditions"] if c["type"] == "Ready"]
        assert (ready["status"], ready["reason"]) == ("False", "WaitingForPlan")
    finally:
        for service in away:
            arks.system[service].start()
    arks.wait_phase("unjudged", ns, "Running")


def test_changed_image_rolls_the_groups(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("rolled", replicas=2))
    arks.wait_phase("rolled", ns, "Running")
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in arks.items("pods", ns, "arks.ai/application=rolled")}
    arks.apply(ns, small_app("rolled", replicas=2, runtimeImage="registry.example/vllm:custom"))

    def rolled() -> bool:
        pods = arks.items("pods", ns, "arks.ai/application=rolled")
        images = {container(p)["image"] for p in pods}
        fresh = all(before.get(p["metadata"]["name"]) != p["metadata"]["uid"] for p in pods)
        return images == {"registry.example/vllm:custom"} and fresh and len(pods) == 2

    wait_until(rolled, 120, "every group rolled to the new image")

    def all_updated_and_ready() -> bool:
        status = (arks.get("arksapplication", "rolled", ns) or {}).get("status") or {}
        return (status.get("phase"), status.get("readyReplicas"), status.get("updatedReplicas")) == ("Running", 2, 2)

    wait_until(all_updated_and_ready, 90, "both groups updated and ready after the roll")


def test_ready_is_not_true_while_a_groups_pods_are_not_ready(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    app = small_app("stuck")
    app["spec"]["instanceSpec"]["nodeSelector"] = {"nvidia.com/gpu.product": "NVIDIA-B200"}  # no such node
    arks.apply(ns, app)
    wait_until(lambda: arks.items("pods", ns, "arks.ai/application=stuck"), 60, "pods created")
    stuck = arks.wait_phase("stuck", ns, "Creating")
    status, reason, _ = conditions(stuck)["Ready"]
    assert (status, reason in ("Creating", "ReplicasNotReady")) == ("False", True)
    fixed = copy.deepcopy(app)
    fixed["spec"]["instanceSpec"]["nodeSelector"] = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    arks.apply(ns, fixed)
    assert conditions(arks.wait_phase("stuck", ns, "Running", within=120))["Ready"][0] == "True"


def test_deleting_the_application_removes_its_objects(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("doomed"))
    arks.wait_phase("doomed", ns, "Running")
    assert arks.get("leaderworkerset", "doomed", ns) is not None
    arks.kubectl("delete", "arkapp", "doomed", "-n", ns, "--timeout=60s")
    assert arks.get("arksapplication", "doomed", ns) is None
    assert arks.get("leaderworkerset", "doomed", ns) is None
    assert arks.get("service", "arks-application-doomed", ns) is None
    wait_until(lambda: not arks.items("pods", ns, "arks.ai/application=doomed"), 60, "pods gone")
