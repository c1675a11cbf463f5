"""ArksEndpoint against the real API server: the samples are accepted and the two forms together refused with
the field named; the router's objects as the endpoint plan builds them apply (server-side, as the deployer
applies plans) and are garbage-collected with the endpoint; the router's account may read pods of its
namespace only; and the router's label selector picks exactly the leaders of the applications serving its model.

The planner/deployer wiring of endpoints is not built yet (docs/endpoints.md): here the test applies the plan.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from arks_common.api import ArksApplication, ArksEndpoint
from arks_common.endpoints import selected_applications
from arks_planner.core.endpoint import RouterSettings, backend_selector, build_endpoint_plan
from support.builders import rwx_model, sample, small_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster

SETTINGS = RouterSettings(image="registry.example/smg:1.13.0", backend_port=8080)


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

    plan = build_endpoint_plan(endpoint, SETTINGS)
    arks.kubectl(
        "apply", "--server-side", "--field-manager=arks-deployer", "-n", ns, "-f", "-",
        input=yaml.safe_dump_all(plan.objects),
    )  # fmt: skip
    account = f"system:serviceaccount:{ns}:arks-endpoint-qwen-7b"
    assert arks.kubectl("auth", "can-i", "watch", "pods", "-n", ns, "--as", account).strip() == "yes"
    for verb, resource, where in (("list", "pods", "default"), ("delete", "pods", ns), ("get", "secrets", ns)):
        denied = arks.cluster.kubectl("auth", "can-i", verb, resource, "-n", where, "--as", account, check=False)
        assert denied.stdout.strip() == "no", (verb, resource, where)
    deployment = arks.get("deployment", "arks-endpoint-qwen-7b", ns)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2  # the sample's router.replicas

    arks.kubectl("delete", "arksendpoint", "qwen-7b", "-n", ns)

    def collected() -> bool:
        try:
            return not arks.items("deployment,service,role,rolebinding,serviceaccount", ns, "arks.ai/endpoint=qwen-7b")
        except subprocess.CalledProcessError:
            return False

    wait_until(collected, 60, "the router's objects to be garbage-collected with their endpoint")
