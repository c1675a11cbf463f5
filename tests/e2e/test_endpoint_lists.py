"""An ArksEndpoint's explicit application list on the local cluster: the deployer labels exactly the listed
applications' backend pods (live, no restart) so the router's selector picks them and no other application of the
model; the status names them; editing the list moves the labels; a name listed twice is refused by the API server.
"""

from __future__ import annotations

import json

import pytest
import yaml

from arks_common.api import ArksEndpoint
from arks_planner.core.endpoint import backend_selector
from support.builders import rwx_model, small_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster

KEY = "endpoint.arks.ai/picked"


def selector_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def test_explicit_list_labels_exactly_the_listed_backends_and_follows_edits(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(
        ns,
        small_app("qwen-h100", servedModelName="qwen-7b"),
        small_app("qwen-l40s", servedModelName="qwen-7b"),
        small_app("other", servedModelName="other-model"),
    )
    leaders_of = {}
    for name in ("qwen-h100", "qwen-l40s", "other"):
        arks.wait_phase(name, ns, "Running")
        leaders_of[name] = {
            p["metadata"]["name"]
            for p in arks.items("pods", ns, f"arks.ai/application={name},arks.ai/endpoint-backend=true")
        }
        assert leaders_of[name], name
    pod_uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in arks.items("pods", ns, "arks.ai/application")}

    endpoint = {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksEndpoint",
        "metadata": {"name": "picked"},
        "spec": {"servedModelName": "qwen-7b", "applications": ["qwen-h100", "other"]},
    }
    arks.apply(ns, endpoint)

    def members() -> set[str]:
        return {p["metadata"]["name"] for p in arks.items("pods", ns, f"{KEY}=true")}

    def status_names(text: str) -> dict[str, object] | None:
        got = (arks.get("arksendpoint", "picked", ns) or {}).get("status") or {}
        return got if got.get("applicationsText") == text else None

    # `other` is listed but serves another model: only qwen-h100 is behind the endpoint
    wait_until(lambda: members() == leaders_of["qwen-h100"] or None, 60, "the listed application's pods labelled")
    wait_until(lambda: status_names("qwen-h100"), 60, "the status naming the listed application")
    live = ArksEndpoint.model_validate(arks.get("arksendpoint", "picked", ns))
    selected = {p["metadata"]["name"] for p in arks.items("pods", ns, selector_text(backend_selector(live)))}
    assert selected == leaders_of["qwen-h100"]  # the router's selector: not qwen-l40s, which serves the model too

    patch = {"spec": {"applications": ["qwen-h100", "qwen-l40s"]}}
    arks.kubectl("patch", "arksendpoint", "picked", "-n", ns, "--type=merge", "-p", json.dumps(patch))
    both = leaders_of["qwen-h100"] | leaders_of["qwen-l40s"]
    wait_until(lambda: members() == both or None, 60, "both applications' pods labelled")
    wait_until(lambda: status_names("qwen-h100,qwen-l40s"), 60, "the status naming both")

    patch = {"spec": {"applications": ["qwen-l40s"]}}
    arks.kubectl("patch", "arksendpoint", "picked", "-n", ns, "--type=merge", "-p", json.dumps(patch))
    wait_until(lambda: members() == leaders_of["qwen-l40s"] or None, 60, "the label off the application dropped")
    # labels moved on the live pods: none was restarted
    assert {
        p["metadata"]["name"]: p["metadata"]["uid"] for p in arks.items("pods", ns, "arks.ai/application")
    } == pod_uids

    twice = {**endpoint, "metadata": {"name": "twice", "namespace": ns}}
    twice["spec"] = {"servedModelName": "qwen-7b", "applications": ["qwen-h100", "qwen-h100"]}
    refused = arks.cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(twice), check=False)
    assert refused.returncode != 0
    assert "spec.applications[1]" in refused.stderr
    assert "Duplicate value" in refused.stderr
