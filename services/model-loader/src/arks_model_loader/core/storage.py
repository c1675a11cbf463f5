"""What a model needs in the cluster: its PersistentVolumeClaim and its download Job, as data. Pure.

The Job's name carries a digest of what the model asks to download (its repo id, token Secret and claim), so a
changed model gets a new Job while an unchanged one is never downloaded twice. The installation's settings (the
downloader image, the Hub endpoint) are not in it: upgrading Arks must not download every model again. A Job
that failed is started again once the model changed since (its generation: more storage, a fixed Secret), and
one left by a deleted model of the same name is not this model's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from arks_common.api.application import MODEL_MOUNT_PATH, MODEL_VOLUME_NAME
from arks_common.api.model import HF_TOKEN_KEY, ArksModel
from arks_common.api.quantity import quantity_value
from arks_common.kube.resources import LABEL_MANAGED_BY, LABEL_MODEL, MANAGED_BY

LABEL_ROLE = "arks.ai/role"
DOWNLOAD_ROLE = "model-download"
DOWNLOAD_CONTAINER = "download"
DOWNLOADER_UID = 65532


@dataclass(frozen=True)
class DownloaderConfig:
    image: str
    backoff_limit: int = 3
    hf_endpoint: str | None = None
    service_account: str | None = None


def owner_reference(model: ArksModel) -> dict[str, Any]:
    return {
        "apiVersion": model.api_version,
        "kind": model.kind,
        "name": model.metadata.name,
        "uid": model.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def labels(model: ArksModel) -> dict[str, str]:
    return {LABEL_MODEL: model.metadata.name, LABEL_MANAGED_BY: MANAGED_BY}


def claim(model: ArksModel) -> dict[str, Any]:
    """The model's PVC, owned by the model (deleting the model frees its storage)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": model.pvc_name(),
            "namespace": model.metadata.namespace,
            "labels": labels(model),
            "ownerReferences": [owner_reference(model)],
        },
        "spec": dict(model.spec.storage.pvc.spec),
    }


GENERATION_ANNOTATION = "arks.ai/model-generation"
"""On a download Job: the model's generation it was started for."""
CLAIM_UID_ANNOTATION = "arks.ai/claim-uid"
"""On a download Job: the uid of the claim it downloads into (a claim deleted and created anew is another)."""


def belongs_to(obj: dict[str, Any], model: ArksModel) -> bool:
    """Whether a claim or Job found under `model`'s name is this model's to use: not being deleted, and not owned
    by another ArksModel (one deleted and re-created under the name: its objects go with it, the garbage collector
    just has not got there yet). A claim the user made for the model (no ArksModel owner) is used as it is."""
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, dict) and o.get("kind") == model.kind]
    return all(o.get("uid") == model.metadata.uid for o in owners)


def mounting(pods: list[dict[str, Any]], claim_name: str) -> list[dict[str, Any]]:
    """The pods that keep a claim being deleted (`kubernetes.io/pvc-protection`), as Kubernetes' PVC protection
    controller counts them (`podUsesPVC`): every scheduled pod whose volumes name it, finished or not, until the pod
    object is gone (a download Job's Succeeded pod too)."""
    return [
        pod
        for pod in pods
        if (pod.get("spec") or {}).get("nodeName")
        and any(
            isinstance(v, dict) and (v.get("persistentVolumeClaim") or {}).get("claimName") == claim_name
            for v in (pod.get("spec") or {}).get("volumes") or []
        )
    ]


def held_by_another(obj: dict[str, Any], model: ArksModel) -> str | None:
    """Who else holds a claim `model` names, as the user reads it (`ArksModel other`, `StatefulSet postgres`), when
    the download must not write into it: another ArksModel (not a namesake of `model`: two models cannot share one
    claim, and nothing frees it by itself; one being deleted is on its way out), or another controller (a
    StatefulSet's volume: the download pod would mount it read-write and its fsGroup would change the owner of
    every file). A claim the user made for the model (no controller) is used as it is."""
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    for owner in meta.get("ownerReferences") or []:
        if not isinstance(owner, dict):
            continue
        if owner.get("kind") == model.kind:
            if owner.get("name") != model.metadata.name:
                return f"ArksModel {str(owner.get('name'))[:253]}"
        elif owner.get("controller"):
            return f"{str(owner.get('kind'))[:63]} {str(owner.get('name'))[:253]}"
    return None


def made_for(job: dict[str, Any], model: ArksModel) -> bool:
    """Whether a Job is a download Arks made for this very model (its role label, and this model as its owner): a
    user's own Job labelled `arks.ai/model` (an evaluation, a warm-up) is never ours to adopt or delete."""
    meta = job.get("metadata") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, dict)]
    return (meta.get("labels") or {}).get(LABEL_ROLE) == DOWNLOAD_ROLE and any(
        o.get("kind") == model.kind and o.get("uid") == model.metadata.uid for o in owners
    )


def made_for_another_claim(job: dict[str, Any], pvc: dict[str, Any]) -> bool:
    """Whether a download Job was made for another claim than `pvc` (one deleted since, the name taken by a new,
    empty claim): its completion says nothing of this claim's volume. A Job from before the annotation counts as
    the claim's unless the claim is younger than it."""
    meta, claim_meta = job.get("metadata") or {}, pvc.get("metadata") or {}
    made_for = (meta.get("annotations") or {}).get(CLAIM_UID_ANNOTATION)
    if made_for is not None:
        return bool(made_for != claim_meta.get("uid"))
    job_time, claim_time = meta.get("creationTimestamp"), claim_meta.get("creationTimestamp")
    return bool(job_time and claim_time and str(claim_time) > str(job_time))


def download_record(model: ArksModel, pvc: dict[str, Any]) -> dict[str, str]:
    """`status.download` for a download of `model` completed into `pvc`."""
    return {"digest": download_digest(model), "claimUid": str((pvc.get("metadata") or {}).get("uid", ""))}


def downloaded_here(record: Any, model: ArksModel, pvc: dict[str, Any]) -> bool:
    """Whether the model's recorded download (`status.download`) is of what it asks for now, into this claim."""
    return isinstance(record, dict) and record == download_record(model, pvc)


def tried_for_another_generation(job: dict[str, Any], generation: int) -> bool:
    """A download Job that was started for another generation of the model (or before Jobs said which)."""
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    return annotations.get(GENERATION_ANNOTATION) != str(generation)


def requested_storage(obj: dict[str, Any]) -> str | int | None:
    """`spec.resources.requests.storage` of a claim (or of the claim spec an ArksModel asks for), as written: a
    quantity is a string or an integer (the CRD refuses a float or anything else there, and so does this)."""
    spec = obj.get("spec")
    resources = spec.get("resources") if isinstance(spec, dict) else None
    requests = resources.get("requests") if isinstance(resources, dict) else None
    value = requests.get("storage") if isinstance(requests, dict) else None
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


MAX_ACCESS_MODES = 16
"""As many as `status.claim.accessModes` holds (the CRD's bound; Kubernetes knows four)."""


def claim_access_modes(pvc: dict[str, Any]) -> list[str]:
    """A claim's `spec.accessModes`: what its volume allows, fixed once the claim exists."""
    spec = pvc.get("spec")
    modes = spec.get("accessModes") if isinstance(spec, dict) else None
    return [m[:63] for m in modes if isinstance(m, str)][:MAX_ACCESS_MODES] if isinstance(modes, list) else []


def claim_record(pvc: dict[str, Any]) -> dict[str, Any]:
    """`status.claim`: the model's claim as the cluster has it, which the planner places by."""
    return {"name": str((pvc.get("metadata") or {}).get("name", "")), "accessModes": claim_access_modes(pvc)}


def kept_access_modes(model: ArksModel, pvc: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(the claim's access modes, the spec's) when the spec asks for others than the claim has: edited after the claim
    was made, or a claim the user made beforehand. A claim's access modes cannot change, so the edit is not applied;
    None when they agree (in any order) or the spec names none."""
    asked, held = model.spec.storage.pvc.access_modes(), claim_access_modes(pvc)
    if not asked or set(asked) == set(held):
        return None
    return tuple(held), tuple(m[:63] for m in asked[:MAX_ACCESS_MODES])


BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
"""The StorageClass of a claim made before `spec.storageClassName` (Kubernetes still honours it)."""
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
"""A StorageClass annotated so (`"true"`) is the cluster's default: a claim that names no class gets it."""


def _bound(pvc: dict[str, Any]) -> bool:
    return str((pvc.get("status") or {}).get("phase") or "Pending") == "Bound"


def _spec_class(model: ArksModel) -> str | None:
    """The class the model's spec asks for (`""`: none, volumes made by hand); None when it names none at all."""
    name = model.spec.storage.pvc.spec.get("storageClassName")
    return name if isinstance(name, str) else None


def claim_class(pvc: dict[str, Any]) -> str | None:
    """A claim's StorageClass: `spec.storageClassName`, else the beta annotation of claims made before that field;
    None when it has none (nil: made when the cluster had no default class; `""` is a class: none at all)."""
    spec = pvc.get("spec")
    name = spec.get("storageClassName") if isinstance(spec, dict) else None
    if isinstance(name, str):
        return name
    beta = ((pvc.get("metadata") or {}).get("annotations") or {}).get(BETA_CLASS_ANNOTATION)
    return beta if isinstance(beta, str) else None


def owned_by(pvc: dict[str, Any], model: ArksModel) -> bool:
    """The model made this claim (a claim the user made for it is left as it is)."""
    owners = (pvc.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(o, dict) and o.get("kind") == model.kind for o in owners)


def class_to_set(model: ArksModel, pvc: dict[str, Any]) -> str | None:
    """The class the spec names, when the model's own claim may still take it: an unbound claim without a class
    (nil: made in a cluster without a default class) is the one whose class Kubernetes lets change, once (as the PV
    controller does when a default class appears). None otherwise: a class, once set, stays."""
    asked = _spec_class(model)
    if not asked or claim_class(pvc) is not None or _bound(pvc) or not owned_by(pvc, model):
        return None
    return asked


def kept_storage_class(model: ArksModel, pvc: dict[str, Any]) -> tuple[str | None, str] | None:
    """(the claim's class, the spec's) when the spec names another class than the claim has (edited after the claim
    was made, or a claim the user made): not applied, a claim's class cannot change once set. None when they agree
    (`""` and none alike: no class) or the spec names none (the default class, which the claim got)."""
    asked, held = _spec_class(model), claim_class(pvc)
    if asked is None or asked == (held or ""):
        return None
    return (None if held is None else held[:253]), asked[:253]


def kept_size(model: ArksModel, pvc: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(the claim's requested size, the spec's, whether the spec's is larger) when they differ by value: a claim
    never shrinks, and grows only when the model's download failed (`_grow_claim`). None when they agree or either
    cannot be read."""
    asked, held = requested_storage({"spec": model.spec.storage.pvc.spec}), requested_storage(pvc)
    wanted, has = quantity_value(asked), quantity_value(held)
    if asked is None or held is None or wanted is None or has is None or wanted == has:
        return None
    return str(held)[:63], str(asked)[:63], wanted > has


def waits_for_a_default_class(pvc: dict[str, Any]) -> bool:
    """An unbound claim that names no class at all (nil, not `""`): only a default StorageClass provisions it (the
    API server sets it at creation, the PV controller later, once one exists)."""
    return not _bound(pvc) and claim_class(pvc) is None


def is_default_class(storage_class: dict[str, Any]) -> bool:
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


def unbound_claims_class(pvc: dict[str, Any]) -> str | None:
    """The storage class a claim no volume is bound to yet names (`spec.storageClassName`); None for a bound claim
    and for one naming none (the cluster's default class, or `""`: volumes made by hand)."""
    name = None if _bound(pvc) else claim_class(pvc)
    return name or None


@dataclass(frozen=True)
class DownloadInputs:
    """What a download depends on, from the model's spec alone."""

    repo_id: str
    token_secret: str | None
    claim: str


def download_inputs(model: ArksModel) -> DownloadInputs:
    hf = model.spec.source.huggingface
    return DownloadInputs(model.spec.model, (hf.token_secret_ref if hf else None) or None, model.pvc_name())


def job_inputs(job: dict[str, Any]) -> DownloadInputs | None:
    """The inputs a download Job was made for, read from its pod template (so also of a Job whose name an earlier
    installation digested differently); None for a Job that is not a download of ours."""
    spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    container = next((c for c in spec.get("containers") or [] if c.get("name") == DOWNLOAD_CONTAINER), None)
    claim_name = next(
        (
            (v.get("persistentVolumeClaim") or {}).get("claimName")
            for v in spec.get("volumes") or []
            if v.get("name") == MODEL_VOLUME_NAME
        ),
        None,
    )
    if container is None or not claim_name:
        return None
    env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
    repo_id = env.get("ARKS_MODEL")
    if not repo_id:
        return None
    token = env.get("ARKS_TOKEN_SECRET")
    return DownloadInputs(str(repo_id), str(token) if token else None, str(claim_name))


def download_digest(model: ArksModel) -> str:
    inputs = download_inputs(model)
    return hashlib.sha256(json.dumps([inputs.repo_id, inputs.token_secret, inputs.claim]).encode()).hexdigest()[:8]


def job_name(model: ArksModel) -> str:
    # Job names end up in pod names and labels: keep them within 63 characters; a name cut after a `.` or `-`
    # would make `x.-download-…`, which no object may be named
    return f"{model.metadata.name[:45].rstrip('.-')}-download-{download_digest(model)}"


def download_job(model: ArksModel, config: DownloaderConfig, claim_uid: str) -> dict[str, Any]:
    """The Job that runs the project's downloader (`arks-model-download`) into the model's volume (the claim of
    `claim_uid`)."""
    env: list[dict[str, Any]] = [{"name": "ARKS_MODEL", "value": model.spec.model}]
    hf = model.spec.source.huggingface
    if hf is not None and hf.token_secret_ref:
        # the token stays in its Secret: the pod reads it through the environment, nothing copies it
        env.append(
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": hf.token_secret_ref, "key": HF_TOKEN_KEY}}}
        )
        env.append({"name": "ARKS_TOKEN_SECRET", "value": hf.token_secret_ref})  # the name, so errors can cite it
    if config.hf_endpoint:
        env.append({"name": "HF_ENDPOINT", "value": config.hf_endpoint})
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        # the downloader runs as uid 65532 (Dockerfile.downloader); fsGroup lets it write the volume
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": DOWNLOADER_UID,
            "fsGroup": DOWNLOADER_UID,
            # the group is changed only where the volume's root does not have it yet: a user's claim with files
            # of its own is not walked through on every download
            "fsGroupChangePolicy": "OnRootMismatch",
        },
        "containers": [
            {
                "name": DOWNLOAD_CONTAINER,
                "image": config.image,
                "command": ["arks-model-download"],
                "args": ["--model", model.spec.model, "--models-dir", MODEL_MOUNT_PATH],
                "env": env,
                "volumeMounts": [
                    {"name": MODEL_VOLUME_NAME, "mountPath": MODEL_MOUNT_PATH},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "volumes": [
            {"name": MODEL_VOLUME_NAME, "persistentVolumeClaim": {"claimName": model.pvc_name()}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if config.service_account:
        pod_spec["serviceAccountName"] = config.service_account
    pod_labels = {**labels(model), LABEL_ROLE: DOWNLOAD_ROLE}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(model),
            "namespace": model.metadata.namespace,
            "labels": pod_labels,
            "annotations": {
                GENERATION_ANNOTATION: str(model.metadata.generation),
                **({CLAIM_UID_ANNOTATION: claim_uid} if claim_uid else {}),
            },
            "ownerReferences": [owner_reference(model)],
        },
        "spec": {
            "backoffLimit": config.backoff_limit,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }
