"""The local cluster is a real control plane: the real scheduler places LeaderWorkerSet pods on fake GPU
nodes, LWS's webhooks inject its environment, and GPU accounting makes an oversized pod unschedulable."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from arks_localcluster.cluster import A100, GPU_PRODUCT_LABEL, GPU_RESOURCE, H100, LocalCluster

pytestmark = pytest.mark.cluster

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 120.0, interval: float = 0.5) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` and the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in obj.get("status", {}).get("conditions", []):
        if c["type"] == kind:
            cond: dict[str, Any] = c
            return cond
    return None


def test_gpu_nodes_ready(local_cluster: LocalCluster) -> None:
    nodes = local_cluster.kubectl_json("get", "nodes")["items"]
    assert len(nodes) >= 4
    products = set()
    for node in nodes:
        ready = _condition(node, "Ready")
        assert ready is not None, node["metadata"]["name"]
        assert ready["status"] == "True", node["metadata"]["name"]
        assert node["status"]["allocatable"][GPU_RESOURCE] == "8"
        assert node["status"]["capacity"][GPU_RESOURCE] == "8"
        assert not node["spec"].get("taints")
        products.add(node["metadata"]["labels"][GPU_PRODUCT_LABEL])
    assert products == {H100, A100}


LWS = """
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata:
  name: x
  namespace: {ns}
spec:
  replicas: 2
  leaderWorkerTemplate:
    size: 2
    workerTemplate:
      spec:
        containers:
        - name: main
          image: registry.invalid/none:latest
          resources:
            requests: {{nvidia.com/gpu: "1", cpu: 100m, memory: 128Mi}}
            limits: {{nvidia.com/gpu: "1"}}
"""


def test_leaderworkerset_runs_on_gpu_nodes(local_cluster: LocalCluster) -> None:
    ns = "e2e-lws"
    local_cluster.kubectl("create", "namespace", ns)
    local_cluster.kubectl("apply", "-f", "-", input=LWS.format(ns=ns))
    want = {"x-0", "x-0-1", "x-1", "x-1-1"}

    def pods_ready() -> dict[str, dict[str, Any]] | None:
        pods = {p["metadata"]["name"]: p for p in local_cluster.kubectl_json("get", "pods", "-n", ns)["items"]}
        ok = all(
            name in pods
            and pods[name]["status"].get("phase") == "Running"
            and (_condition(pods[name], "Ready") or {}).get("status") == "True"
            for name in want
        )
        return pods if ok else None

    pods = eventually("the four LWS pods Running and Ready", pods_ready)
    assert set(pods) == want
    nodes = {n["metadata"]["name"]: n for n in local_cluster.kubectl_json("get", "nodes")["items"]}
    for name in sorted(want):
        pod = pods[name]
        assert pod["spec"]["nodeName"] in nodes, name
        assert GPU_PRODUCT_LABEL in nodes[pod["spec"]["nodeName"]]["metadata"]["labels"]
        container = pod["spec"]["containers"][0]
        assert container["resources"]["limits"][GPU_RESOURCE] == "1"
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        for var in ("LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"):
            assert var in env, f"{name}: {var} not injected; env={json.dumps(env)}"
        group = name.split("-")[1]
        assert env["LWS_GROUP_SIZE"] == "2"
        assert env["LWS_WORKER_INDEX"] == ("1" if name.count("-") == 2 else "0")
        assert env["LWS_LEADER_ADDRESS"] == f"x-{group}.x.{ns}"
        labels = pod["metadata"]["labels"]
        assert labels["leaderworkerset.sigs.k8s.io/name"] == "x"
        assert labels["leaderworkerset.sigs.k8s.io/group-index"] == group

    def lws_ready() -> dict[str, Any] | None:
        status: dict[str, Any] = local_cluster.kubectl_json("get", "leaderworkerset", "x", "-n", ns)["status"]
        return status if status.get("readyReplicas") == 2 else None

    status = eventually("LeaderWorkerSet x to report 2 ready replicas", lws_ready)
    assert (_condition({"status": status}, "Available") or {}).get("status") == "True"


POD = """
apiVersion: v1
kind: Pod
metadata:
  name: too-big
  namespace: {ns}
spec:
  containers:
  - name: main
    image: registry.invalid/none:latest
    resources:
      requests: {{nvidia.com/gpu: "9"}}
      limits: {{nvidia.com/gpu: "9"}}
"""


def test_pod_asking_too_many_gpus_is_unschedulable(local_cluster: LocalCluster) -> None:
    ns = "e2e-unschedulable"
    local_cluster.kubectl("create", "namespace", ns)
    local_cluster.kubectl("apply", "-f", "-", input=POD.format(ns=ns))

    def unschedulable() -> dict[str, Any] | None:
        pod = local_cluster.kubectl_json("get", "pod", "too-big", "-n", ns)
        cond = _condition(pod, "PodScheduled")
        return pod if cond and cond["status"] == "False" and cond["reason"] == "Unschedulable" else None

    pod = eventually("pod too-big to be marked Unschedulable", unschedulable)
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")
    assert "nvidia.com/gpu" in (_condition(pod, "PodScheduled") or {}).get("message", "")
