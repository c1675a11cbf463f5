"""ArksEndpoint end to end: the samples are accepted and the two forms together refused with the field named;
the planner plans the router and the deployer applies it (ServiceAccount, Role, RoleBinding, Deployment,
Service) and writes the status (applications, ready groups, Ready), which follows the applications; the
router's account may read pods of its namespace only; its label selector picks exactly the leaders of the
applications serving its model; and its objects go with the endpoint.
"""

from __future__ import annotations

import asyncio
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from arks_common.api import ArksApplication, ArksEndpoint
from arks_common.endpoints import selected_applications
from arks_planner.core.endpoint import RouterSettings, backend_selector, build_endpoint_plan
from arks_planner.settings import PlannerSettings
from support.builders import rwx_model, sample, small_app
from support.e2e import Env, wait_until
from support.router import Router, running_emulators, send

pytestmark = pytest.mark.cluster

SETTINGS = RouterSettings(image=PlannerSettings.model_fields["router_image"].default, backend_port=8080)
"""The planner's defaults: the plan it publishes is this one."""


def selector_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def test_endpoint_samples_plan_and_selection_on_the_cluster(arks: Env, ns: str) -> None:
    arks.apply(ns, sample("endpoint.yaml"), sample("endpoint-all-models.yaml"))
    both = sample("endpoint.yaml")
    both["metadata"] = {"name": "both", "namespace": ns}
    both["spec"]["allModels"] = True
    refused = arks.cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(both), check=False)
    assert refused.returncode != 0
    assert "spec.servedModelName" in refused.stderr
    assert "exclude each other" in refused.stderr
    # a name no router Service can carry, the Service's metrics port, a quantity Kubernetes cannot read: refused
    # by the CRD; an integer quantity taken, as in a pod
    for name, spec, words in (
        ("qwen2.5-7b", {}, "metadata.name must be a DNS label of at most 49 characters"),
        ("qwen-metrics", {"port": 29000}, "spec.port"),
        ("qwen-lots", {"router": {"resources": {"limits": {"cpu": "lots"}}}}, "spec.router.resources.limits.cpu"),
    ):
        bad = {"apiVersion": "arks.ai/v1", "kind": "ArksEndpoint", "metadata": {"name": name}, "spec": spec}
        refused = arks.cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(bad), check=False)
        assert refused.returncode != 0, name
        assert words in refused.stderr, (name, refused.stderr)
    integer = {"metadata": {"name": "qwen-cpu"}, "spec": {"router": {"resources": {"limits": {"cpu": 1}}}}}
    arks.apply(ns, {"apiVersion": "arks.ai/v1", "kind": "ArksEndpoint", **integer})

    # two applications of the same model (different GPU types in real life) and one of another model
    arks.ready_model(ns, rwx_model())
    arks.apply(
        ns,
        small_app("qwen-h100", servedModelName="qwen-7b"),
        small_app("qwen-l40s", servedModelName="qwen-7b"),
        small_app("other", servedModelName="Other/Model-1"),
    )
    apps = [ArksApplication.model_validate(arks.wait_phase(n, ns, "Running")) for n in ("qwen-h100", "qwen-l40s")]
    apps.append(ArksApplication.model_validate(arks.wait_phase("other", ns, "Running")))

    raw = arks.get("arksendpoint", "qwen-7b", ns)
    assert raw is not None
    endpoint = ArksEndpoint.model_validate(raw)
    assert [a.metadata.name for a in selected_applications(endpoint, apps)] == ["qwen-h100", "qwen-l40s"]
    leaders = arks.items("pods", ns, selector_text(backend_selector(endpoint)))
    assert sorted(p["metadata"]["labels"]["arks.ai/application"] for p in leaders) == ["qwen-h100", "qwen-l40s"]
    everything = ArksEndpoint.model_validate(arks.get("arksendpoint", "all-models", ns))
    leaders = arks.items("pods", ns, selector_text(backend_selector(everything)))
    assert sorted(p["metadata"]["labels"]["arks.ai/application"] for p in leaders) == [
        "other",
        "qwen-h100",
        "qwen-l40s",
    ]

    # the planner plans the router, the deployer applies it and writes the status
    def status(name: str, ready: int, applications: str) -> dict[str, Any] | None:
        got = (arks.get("arksendpoint", name, ns) or {}).get("status") or {}
        conditions = {c["type"]: c["status"] for c in got.get("conditions") or []}
        wanted = got.get("readyBackends") == ready and got.get("applicationsText") == applications
        return got if wanted and conditions.get("Ready") == ("True" if ready else "False") else None

    got = wait_until(lambda: status("qwen-7b", 2, "qwen-h100,qwen-l40s"), 60, "the endpoint's status")
    assert (got["model"], got["url"]) == ("qwen-7b", f"http://arks-endpoint-qwen-7b.{ns}.svc:8080")
    wait_until(lambda: status("all-models", 3, "other,qwen-h100,qwen-l40s"), 60, "the all-models status")
    deployment = wait_until(lambda: arks.get("deployment", "arks-endpoint-qwen-7b", ns), 60, "the router")
    assert deployment["spec"]["replicas"] == 2  # the sample's router.replicas
    assert (
        deployment["metadata"]["annotations"]["arks.ai/plan-hash"] == build_endpoint_plan(endpoint, SETTINGS).plan_hash
    )
    wait_until(lambda: arks.get("rolebinding", "arks-endpoint-qwen-7b", ns), 60, "the router's RoleBinding")

    account = f"system:serviceaccount:{ns}:arks-endpoint-qwen-7b"
    assert arks.kubectl("auth", "can-i", "watch", "pods", "-n", ns, "--as", account).strip() == "yes"
    for verb, resource, where in (("list", "pods", "default"), ("delete", "pods", ns), ("get", "secrets", ns)):
        denied = arks.cluster.kubectl("auth", "can-i", verb, resource, "-n", where, "--as", account, check=False)
        assert denied.stdout.strip() == "no", (verb, resource, where)
    # an application deleted leaves the endpoint's status
    arks.kubectl("delete", "arksapplication", "qwen-l40s", "-n", ns)
    wait_until(lambda: status("qwen-7b", 1, "qwen-h100"), 60, "the status without the deleted application")

    arks.kubectl("delete", "arksendpoint", "qwen-7b", "-n", ns)

    def collected() -> bool:
        try:
            return not arks.items("deployment,service,role,rolebinding,serviceaccount", ns, "arks.ai/endpoint=qwen-7b")
        except subprocess.CalledProcessError:
            return False

    wait_until(collected, 60, "the router's objects to be garbage-collected with their endpoint")


def test_an_endpoint_never_takes_over_a_users_object_of_its_routers_name(arks: Env, ns: str) -> None:
    """The user's own ServiceAccount named like the endpoint's router: left as it is (no owner reference, so the
    garbage collector does not delete it with the endpoint), while the router's other objects are applied."""
    users = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "arks-endpoint-qwen-7b", "namespace": ns, "labels": {"app": "mine"}},
    }
    arks.apply(ns, users)
    arks.apply(ns, sample("endpoint.yaml"))
    wait_until(lambda: arks.get("service", "arks-endpoint-qwen-7b", ns), 60, "the router's Service")
    account = arks.get("serviceaccount", "arks-endpoint-qwen-7b", ns) or {}
    assert not account["metadata"].get("ownerReferences")
    assert "arks.ai/plan-hash" not in (account["metadata"].get("annotations") or {})
    arks.kubectl("delete", "arksendpoint", "qwen-7b", "-n", ns)
    wait_until(lambda: arks.get("service", "arks-endpoint-qwen-7b", ns) is None, 60, "the router's Service to go")
    assert arks.get("serviceaccount", "arks-endpoint-qwen-7b", ns) is not None


def test_an_endpoint_deleted_and_created_again_keeps_its_router(arks: Env, ns: str) -> None:
    """The new endpoint's router objects are its predecessor's until the garbage collector removes them: they are
    taken over (owned by the new endpoint), not left to be collected under it."""
    arks.apply(ns, sample("endpoint.yaml"))
    wait_until(lambda: arks.get("deployment", "arks-endpoint-qwen-7b", ns), 60, "the router")
    arks.kubectl("delete", "arksendpoint", "qwen-7b", "-n", ns)
    arks.apply(ns, sample("endpoint.yaml"))
    uid = (arks.get("arksendpoint", "qwen-7b", ns) or {})["metadata"]["uid"]

    def owned_by_the_new_one(kind: str) -> bool:
        got = arks.get(kind, "arks-endpoint-qwen-7b", ns) or {}
        return [r.get("uid") for r in got.get("metadata", {}).get("ownerReferences") or []] == [uid]

    for kind in ("deployment", "service", "serviceaccount", "role", "rolebinding"):
        wait_until(partial(owned_by_the_new_one, kind), 60, f"the router's {kind} owned by the new endpoint")


BACKENDS = {"a-h100": ("model-a", 1.0), "a-l40s": ("model-a", 2.0), "b": ("model-b", 1.0)}
"""Three applications on the cluster and the emulators standing in for their leaders: model-a on two GPU types
(the second twice as slow), model-b on one."""


async def test_one_endpoint_routes_by_model_and_load_to_the_applications_its_status_names(
    arks: Env, ns: str, tmp_path: Path
) -> None:
    """The real router (smg) as a local process in front of emulators, its workers the applications the
    endpoint's status names (the deployer's selection): pods on the fake nodes lead nowhere, so each named
    application's leader is its emulator (docs/endpoints.md)."""
    arks.ready_model(ns, rwx_model())
    apps = [small_app(name, servedModelName=model) for name, (model, _) in BACKENDS.items()]
    endpoint = {"apiVersion": "arks.ai/v1", "kind": "ArksEndpoint", "metadata": {"name": "models"}}
    arks.apply(ns, *apps, {**endpoint, "spec": {"allModels": True}})

    def named(applications: str) -> dict[str, Any] | None:
        got = (arks.get("arksendpoint", "models", ns) or {}).get("status") or {}
        return got if got.get("applicationsText") == applications and got.get("readyBackends") else None

    status = await asyncio.to_thread(wait_until, lambda: named("a-h100,a-l40s,b"), 120, "the endpoint's backends")
    with running_emulators(tmp_path / "emulators", BACKENDS) as emulators:
        router = Router(tmp_path / "router")
        try:
            router.start([emulators[n].url for n in status["applications"]])
            await asyncio.to_thread(router.wait_workers, {e.url for e in emulators.values()})
            async with aiohttp.ClientSession() as session:
                split = await send(session, router, "model-a", 1000, 32)
                print(f"1,000 model-a requests through the endpoint: {dict(split)}")
                assert set(split) == {"a-h100", "a-l40s"}, split
                assert 550 <= split["a-h100"] <= 800, split  # ~2:1, the faster GPU type takes more
                assert await send(session, router, "model-b", 50, 8) == {"b": 50}
                unknown = await send(session, router, "no-such-model", 1, 1)
                assert unknown == {"HTTP 404": 1}

                during = asyncio.create_task(send(session, router, "model-a", 600, 8))
                await asyncio.sleep(1.0)
                await asyncio.to_thread(arks.kubectl, "delete", "arksapplication", "a-l40s", "-n", ns)
                status = await asyncio.to_thread(
                    wait_until, lambda: named("a-h100,b"), 60, "the deletion in the status"
                )
                router.set_workers([emulators[n].url for n in status["applications"]])
                await asyncio.to_thread(router.wait_workers, {emulators["a-h100"].url, emulators["b"].url})
                await asyncio.to_thread(emulators["a-l40s"].stop)
                after = await send(session, router, "model-a", 200, 8)
                counts = await during
                assert set(counts) <= {"a-h100", "a-l40s"}, counts  # no failed request while it went
                assert after == {"a-h100": 200}, after
        finally:
            router.stop()
