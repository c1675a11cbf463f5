"""Where an application's pods may run, as pod-spec data: the model volume's reach and /dev/shm.

A model on a volume that only one node can mount (ReadWriteOnce, ReadWriteOncePod) holds every pod that uses
it on that node. A node-bound volume (local-path, a local PV) gets there through the scheduler's volume
binding alone; an attachable one (a cloud disk) would let a second node's pod hang on a multi-attach error,
so every such pod also carries a required pod affinity to the others of the same claim. Pure: no I/O.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from arks_common.api.application import ArksApplication
from arks_common.api.model import ArksModel

SHARED_ACCESS_MODES = frozenset({"ReadWriteMany", "ReadOnlyMany"})
"""Access modes that let every node of a group mount the model volume at once."""

LABEL_MODEL_CLAIM = "arks.ai/model-claim"
"""On pods whose model volume only one node can mount: the claim, so they can be held together."""

HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"
SHM_VOLUME_NAME = "arks-shm"
SHM_PATH = "/dev/shm"


def pods_per_group(app: ArksApplication) -> int:
    return app.spec.instance_spec.replicas


def single_node_claim(model: ArksModel) -> str | None:
    """The model's claim when only one node can mount it; None for a shared (or unspecified) volume. By the claim's
    own access modes once it exists (`ArksModel.claim_access_modes`): an edit of the spec's does not change them."""
    modes = model.claim_access_modes()
    return model.pvc_name() if modes and not SHARED_ACCESS_MODES.intersection(modes) else None


def access_modes_said(model: ArksModel) -> str:
    """The model volume's access modes as a message names them: the spec's field, or the claim's own modes when the
    spec was edited since the claim was made (the user must see which modes count, and why)."""
    asked = model.spec.storage.pvc.access_modes()
    if not model.access_modes_kept():
        return f"spec.storage.pvc.spec.accessModes {asked}"
    return (
        f"the claim {model.pvc_name()} with accessModes {model.claim_access_modes()} "
        f"(spec.storage.pvc.spec.accessModes {asked} cannot change an existing claim's)"
    )


def claim_label_value(claim: str) -> str:
    """A label value (at most 63 characters) naming `claim`, whose name may be up to 253."""
    return claim if len(claim) <= 63 else "sha256-" + hashlib.sha256(claim.encode()).hexdigest()[:56]


def colocated_affinity(affinity: dict[str, Any] | None, claim: str) -> dict[str, Any]:
    """The user's affinity plus a required pod affinity to the other pods of `claim` on the same node."""
    merged = copy.deepcopy(affinity) if affinity else {}
    pod_affinity = merged.setdefault("podAffinity", {})
    terms = (
        pod_affinity.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        if isinstance(pod_affinity, dict)
        else None
    )
    if not isinstance(terms, list):
        # A malformed pass-through affinity stays as written: the API server refuses it with its own message.
        return merged
    pod_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = terms
    terms.append(
        {
            "labelSelector": {"matchLabels": {LABEL_MODEL_CLAIM: claim_label_value(claim)}},
            "topologyKey": HOSTNAME_TOPOLOGY,
        }
    )
    return merged


def placement_warning(app: ArksApplication, model: ArksModel) -> str | None:
    """What the user should know when an application of several pods is held on one node."""
    claim = single_node_claim(model)
    most_groups = max(app.spec.replicas, app.spec.autoscaling.max_replicas if app.spec.autoscaling else 0)
    if claim is None or pods_per_group(app) * most_groups <= 1:
        return None
    return (
        f"ArksModel '{model.metadata.name}' is on a volume only one node can mount "
        f"({access_modes_said(model)}), so every pod of this "
        "application runs on that node and cannot spread across nodes; groups that do not fit there stay "
        "Pending. Use a ReadWriteMany or ReadOnlyMany volume (for example NFS) to spread them"
    )


def user_mounts_shm(app: ArksApplication) -> bool:
    return any(m.mount_path.rstrip("/") == SHM_PATH for m in app.spec.instance_spec.volume_mounts)


def shm_volume(size: str) -> dict[str, Any]:
    return {"name": SHM_VOLUME_NAME, "emptyDir": {"medium": "Memory", "sizeLimit": size}}


def shm_mount() -> dict[str, Any]:
    return {"name": SHM_VOLUME_NAME, "mountPath": SHM_PATH}
