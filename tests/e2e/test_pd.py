"""PD-separated serving on the local cluster (docs/pd.md), for SGLang and Dynamo: the router, prefill and
decode groups reach Running on fake GPU nodes, each role scales alone, a refused PD spec is Failed with a
clear message, and deleting the application removes every role's objects and pods."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from support.builders import rwx_model, sample
from support.e2e import Env, wait_until


def _roles(arks: Env, ns: str, name: str) -> dict[str, tuple[int, int]]:
    status = (arks.get("arksapplication", name, ns) or {}).get("status") or {}
    return {r["name"]: (r["desiredReplicas"], r["readyReplicas"]) for r in status.get("roles") or []}


def _pd_app(sample_name: str, name: str) -> dict[str, Any]:
    doc = copy.deepcopy(sample(sample_name))
    doc["metadata"] = {"name": name}
    return doc


def _router_account(arks: Env, ns: str) -> None:
    """The account the SGLang router watches pods under (docs/pd.md)."""
    arks.kubectl("create", "serviceaccount", "arks-pd-router", "-n", ns)


CASES = [
    ("sglang", "application-sglang-pd.yaml", "prefill", "decode", "sglang.launch_server"),
    ("dynamo", "application-dynamo-pd.yaml", "decode", "prefill", "dynamo.vllm"),
    ("dynamo-sglang", "application-dynamo-sglang-pd.yaml", "prefill", "decode", "dynamo.sglang"),
]


@pytest.mark.parametrize(("runtime", "sample_name", "scaled", "untouched", "engine"), CASES, ids=[c[0] for c in CASES])
def test_a_pd_application_runs_scales_one_role_alone_and_is_deleted(
    arks: Env, ns: str, runtime: str, sample_name: str, scaled: str, untouched: str, engine: str
) -> None:
    arks.ready_model(ns, rwx_model())
    _router_account(arks, ns)
    doc = _pd_app(sample_name, "pd")
    arks.apply(ns, doc)
    app = arks.wait_phase("pd", ns, "Running", within=120)
    want = {"router": 1, "prefill": doc["spec"]["prefill"]["replicas"], "decode": doc["spec"]["decode"]["replicas"]}
    wait_until(lambda: _roles(arks, ns, "pd") == {r: (n, n) for r, n in want.items()}, 120, "every role ready")
    app = arks.get("arksapplication", "pd", ns) or {}
    conditions = {c["type"]: (c["status"], c["reason"]) for c in app["status"]["conditions"]}
    assert conditions["Ready"] == ("True", "Running")
    assert app["status"]["readyReplicas"] == sum(want.values())
    wide = arks.kubectl("get", "arkapp", "pd", "-n", ns, "-o", "wide").splitlines()
    columns = dict(zip(wide[0].split(), wide[1].split(), strict=True))
    assert (columns["PHASE"], columns["PREFILL"], columns["DECODE"]) == (
        "Running",
        str(want["prefill"]),
        str(want["decode"]),
    ), wide
    assert columns["REPLICAS"] == columns["READY"] == str(sum(want.values())), wide

    # each role is its own LeaderWorkerSet, its pods labelled with the role; the Service reaches the router
    for role, count in want.items():
        lws = arks.get("leaderworkerset", f"pd-{role}", ns) or {}
        assert lws["spec"]["replicas"] == count
        pods = arks.items("pods", ns, f"arks.ai/application=pd,arks.ai/role={role}")
        assert len(pods) == count, role
    for role in ("prefill", "decode"):
        pod = arks.items("pods", ns, f"arks.ai/application=pd,arks.ai/role={role}")[0]
        words = [*pod["spec"]["containers"][0]["command"], *pod["spec"]["containers"][0]["args"]]
        assert words[:3] == ["python3", "-m", engine], words
        assert words[words.index("--disaggregation-mode") + 1] == role, words
    service = arks.get("service", "arks-application-pd", ns) or {}
    assert service["spec"]["selector"]["arks.ai/role"] == "router"

    # scaling one role leaves the other untouched (same object generation, same pods)
    before = arks.get("leaderworkerset", f"pd-{untouched}", ns) or {}
    pods_before = sorted(p["metadata"]["uid"] for p in arks.items("pods", ns, f"arks.ai/role={untouched}"))
    arks.kubectl("patch", "arkapp", "pd", "-n", ns, "--type=merge", "-p", f'{{"spec":{{"{scaled}":{{"replicas":3}}}}}}')
    want[scaled] = 3
    wait_until(lambda: _roles(arks, ns, "pd") == {r: (n, n) for r, n in want.items()}, 120, f"{scaled} at 3")
    after = arks.get("leaderworkerset", f"pd-{untouched}", ns) or {}
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert sorted(p["metadata"]["uid"] for p in arks.items("pods", ns, f"arks.ai/role={untouched}")) == pods_before
    assert arks.phase("pd", ns) == "Running"

    arks.kubectl("delete", "arkapp", "pd", "-n", ns, "--wait=true", "--timeout=90s")
    assert arks.items("leaderworkersets", ns, "arks.ai/application=pd") == []
    assert arks.items("services", ns, "arks.ai/application=pd") == []
    wait_until(lambda: not arks.items("pods", ns, "arks.ai/application=pd"), 90, "every role's pods gone")


def test_an_sglang_router_without_an_account_runs_as_one_arks_plans_pruned_when_the_user_names_one(
    arks: Env, ns: str
) -> None:
    arks.ready_model(ns, rwx_model())
    doc = _pd_app("application-sglang-pd.yaml", "pd-own")
    del doc["spec"]["router"]["instanceSpec"]["serviceAccountName"]
    arks.apply(ns, doc)
    arks.wait_phase("pd-own", ns, "Running", within=120)
    rbac = ("serviceaccounts", "roles", "rolebindings")

    def planned() -> dict[str, list[str]]:
        return {k: [o["metadata"]["name"] for o in arks.items(k, ns, "arks.ai/application=pd-own")] for k in rbac}

    wait_until(lambda: planned() == {k: ["pd-own-router"] for k in rbac}, 60, "the router's account planned")
    role = arks.get("role", "pd-own-router", ns) or {}
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    assert role["metadata"]["ownerReferences"][0]["name"] == "pd-own"
    router_pods = arks.items("pods", ns, "arks.ai/application=pd-own,arks.ai/role=router")
    assert [p["spec"]["serviceAccountName"] for p in router_pods] == ["pd-own-router"]
    prefill_pods = arks.items("pods", ns, "arks.ai/application=pd-own,arks.ai/role=prefill")
    assert all(p["spec"].get("automountServiceAccountToken") is False for p in prefill_pods)

    # the user names an account of their own: it is used, and the planned one is pruned
    _router_account(arks, ns)
    patch = '{"spec":{"router":{"instanceSpec":{"serviceAccountName":"arks-pd-router"}}}}'
    arks.kubectl("patch", "arkapp", "pd-own", "-n", ns, "--type=merge", "-p", patch)
    wait_until(lambda: planned() == {k: [] for k in rbac}, 90, "the planned account pruned")
    lws = arks.get("leaderworkerset", "pd-own-router", ns) or {}
    pod = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    assert pod["serviceAccountName"] == "arks-pd-router"
    arks.wait_phase("pd-own", ns, "Running", within=120)
    arks.kubectl("delete", "arkapp", "pd-own", "-n", ns, "--wait=true", "--timeout=90s")
    assert arks.items("leaderworkersets", ns, "arks.ai/application=pd-own") == []


def test_a_pd_routers_binding_and_the_service_deleted_by_hand_are_made_again(arks: Env, ns: str) -> None:
    """The watcher follows LeaderWorkerSets only: a Service or a router's RoleBinding deleted by hand stayed gone until
    the application's next change, the SGLang router unable to list the prefill and decode pods meanwhile."""
    arks.ready_model(ns, rwx_model())
    doc = _pd_app("application-sglang-pd.yaml", "pd-drift")
    del doc["spec"]["router"]["instanceSpec"]["serviceAccountName"]
    arks.apply(ns, doc)
    arks.wait_phase("pd-drift", ns, "Running", within=120)
    wait_until(lambda: arks.get("rolebinding", "pd-drift-router", ns), 60, "the router's binding planned")
    before = (arks.get("rolebinding", "pd-drift-router", ns) or {})["metadata"]["uid"]
    arks.kubectl("delete", "rolebinding", "pd-drift-router", "-n", ns)
    arks.kubectl("delete", "service", "arks-application-pd-drift", "-n", ns)

    def made_again() -> bool:
        binding = arks.get("rolebinding", "pd-drift-router", ns)
        service = arks.get("service", "arks-application-pd-drift", ns)
        return binding is not None and binding["metadata"]["uid"] != before and service is not None

    wait_until(made_again, 60, "the binding and the Service made again")
    assert arks.phase("pd-drift", ns) == "Running"


def test_a_pd_spec_the_planner_refuses_is_failed_with_a_message_naming_the_field(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    doc = _pd_app("application-sglang-pd.yaml", "pd-bad")
    doc["spec"]["decode"]["tensorParallelSize"] = 4  # one GPU per decode group
    arks.apply(ns, doc)
    app = arks.wait_phase("pd-bad", ns, "Failed")
    precheck = next(c for c in app["status"]["conditions"] if c["type"] == "Precheck")
    assert (precheck["status"], precheck["reason"]) == ("False", "TensorParallelTooLarge")
    assert precheck["message"].startswith("spec.decode.tensorParallelSize: 4 is larger than"), precheck["message"]
    assert arks.items("leaderworkersets", ns, "arks.ai/application=pd-bad") == []


def test_a_pd_role_too_large_for_the_bus_is_failed_naming_that_roles_fields(arks: Env, ns: str) -> None:
    """Environment values the CRD bounds in count, not length: the plan outgrows a bus message. The message names
    the role's own lists (spec.extraOptions and spec.instanceSpec.env are refused with prefill and decode)."""
    arks.ready_model(ns, rwx_model())
    doc = _pd_app("application-sglang-pd.yaml", "pd-big")
    doc["spec"]["decode"]["instanceSpec"]["env"] = [{"name": f"BIG_{i}", "value": "x" * 300_000} for i in range(4)]
    arks.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(doc))  # no client-side apply copy of 1.2 MB
    app = arks.wait_phase("pd-big", ns, "Failed")
    precheck = next(c for c in app["status"]["conditions"] if c["type"] == "Precheck")
    assert (precheck["status"], precheck["reason"]) == ("False", "PlanTooLarge")
    assert "spec.decode.instanceSpec.env" in precheck["message"], precheck["message"]
    assert "spec.instanceSpec.env" not in precheck["message"].replace("spec.decode.instanceSpec.env", ""), precheck
    assert arks.items("leaderworkersets", ns, "arks.ai/application=pd-big") == []


def test_pd_pods_the_cluster_would_refuse_are_failed_naming_the_roles_instance_spec(arks: Env, ns: str) -> None:
    """The dry run of a role's pod is refused (a label value with a space): the message names where that role's
    pod fields come from, spec.prefill.instanceSpec (a PD application has no spec.instanceSpec)."""
    arks.ready_model(ns, rwx_model())
    _router_account(arks, ns)
    doc = _pd_app("application-sglang-pd.yaml", "pd-label")
    doc["spec"]["prefill"]["instanceSpec"]["labels"] = {"team": "a b"}
    arks.apply(ns, doc)
    app = arks.wait_phase("pd-label", ns, "Failed", within=90)
    ready = next(c for c in app["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ApplyRefused")
    assert "the pods of LeaderWorkerSet pd-label-prefill would be refused" in ready["message"]
    assert "the application's spec.prefill.instanceSpec" in ready["message"], ready["message"]


def test_the_api_server_refuses_a_half_pd_spec_naming_the_field(arks: Env, ns: str) -> None:
    doc = _pd_app("application-sglang-pd.yaml", "pd-half")
    del doc["spec"]["decode"]
    proc = arks.cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc), check=False)
    assert proc.returncode != 0
    assert "spec.decode" in proc.stderr, proc.stderr
    assert "prefill and decode go together" in proc.stderr, proc.stderr
    assert arks.get("arksapplication", "pd-half", ns) is None


def test_kill_9_of_each_service_while_a_pd_application_is_created_and_scaled_converges(arks: Env, ns: str) -> None:
    """Each service killed with SIGKILL in turn while the PD application arrives or one of its roles is scaled:
    it converges to every role at its count, one LeaderWorkerSet per role, and deletion leaves nothing."""
    arks.ready_model(ns, rwx_model())
    doc = _pd_app("application-dynamo-pd.yaml", "pd-chaos")
    want = {"router": 1, "prefill": 1, "decode": 1}

    def settled() -> bool:
        return _roles(arks, ns, "pd-chaos") == {r: (n, n) for r, n in want.items()}

    steps: list[tuple[str, str | None]] = [
        ("planner", None),
        ("deployer", "decode"),
        ("watcher", "prefill"),
        ("model-loader", "decode"),
        ("slo-scaler", "prefill"),
    ]
    for service, role in steps:
        victim = arks.system[service]
        victim.kill9()
        if role is None:
            arks.apply(ns, doc)
        else:
            want[role] += 1
            patch = f'{{"spec":{{"{role}":{{"replicas":{want[role]}}}}}}}'
            arks.kubectl("patch", "arkapp", "pd-chaos", "-n", ns, "--type=merge", "-p", patch)
        victim.start()
        wait_until(settled, 180, f"every role at {want} after {service} was killed")
        assert victim.running(), service

    assert arks.phase("pd-chaos", ns) == "Running"
    sets = arks.items("leaderworkersets", ns, "arks.ai/application=pd-chaos")
    assert sorted(s["metadata"]["name"] for s in sets) == ["pd-chaos-decode", "pd-chaos-prefill", "pd-chaos-router"]
    assert len(arks.items("services", ns, "arks.ai/application=pd-chaos")) == 1
    arks.kubectl("delete", "arkapp", "pd-chaos", "-n", ns, "--wait=true", "--timeout=90s")
    assert arks.items("leaderworkersets", ns, "arks.ai/application=pd-chaos") == []
    wait_until(lambda: not arks.items("pods", ns, "arks.ai/application=pd-chaos"), 90, "every role's pods gone")
