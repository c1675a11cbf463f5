"""Storage for the local cluster: no volume provisioner runs here, so a pool of host-path PersistentVolumes
of the `local-path` class stands in, and the real PV controller and scheduler bind claims to them.

Each volume offers every access mode, so both single-node (ReadWriteOnce) and shared (ReadWriteMany) model
claims bind. Nothing is written to them: no kubelet runs, KWOK only marks pods Running.
"""

from __future__ import annotations

from typing import Any

POOL_LABEL = "arks.ai/pool"


def pv_pool(count: int, storage_class: str = "local-path", start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"arks-pool-{i}", "labels": {POOL_LABEL: "local"}},
            "spec": {
                "capacity": {"storage": "1Ti"},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
                "storageClassName": storage_class,
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": f"/tmp/arks-pool/{i}"},
            },
        }
        for i in range(start, start + count)
    ]
