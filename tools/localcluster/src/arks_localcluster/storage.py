"""Storage for the local cluster: no volume provisioner runs here, so a pool of host-path PersistentVolumes
of the `local-path` class stands in, and the real PV controller and scheduler bind claims to them.

The pool has two kinds, as a real cluster would: shared volumes (ReadWriteMany, ReadOnlyMany; NFS-like, any
node mounts them) and node-bound volumes (ReadWriteOnce, pinned to one node by node affinity, as the
local-path provisioner's are), so a ReadWriteOnce model claim binds to one node and the scheduler holds every
pod that mounts it there. Nothing is written to them: no kubelet runs, KWOK only marks pods Running.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

POOL_LABEL = "arks.ai/pool"
DEFAULT_NODE_NAMES = ("gpu-h100-0", "gpu-h100-1", "gpu-a100-0", "gpu-a100-1")
"""The local cluster's fake GPU nodes (cluster.DEFAULT_NODES)."""


def _volume(name: str, modes: list[str], storage_class: str, node: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "capacity": {"storage": "1Ti"},
        "accessModes": modes,
        "storageClassName": storage_class,
        "persistentVolumeReclaimPolicy": "Retain",
        "hostPath": {"path": f"/tmp/arks-pool/{name}"},
    }
    if node is not None:
        term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [term]}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {POOL_LABEL: "local"}},
        "spec": spec,
    }


def pv_pool(
    count: int, storage_class: str = "local-path", start: int = 0, nodes: Sequence[str] = DEFAULT_NODE_NAMES
) -> list[dict[str, Any]]:
    """`count` shared volumes and `count` node-bound ReadWriteOnce volumes (spread over `nodes`)."""
    shared = [
        _volume(f"arks-pool-{i}", ["ReadWriteMany", "ReadOnlyMany"], storage_class, None)
        for i in range(start, start + count)
    ]
    bound = [
        _volume(f"arks-pool-rwo-{i}", ["ReadWriteOnce"], storage_class, nodes[i % len(nodes)])
        for i in range(start, start + count)
    ]
    return [*shared, *bound]
