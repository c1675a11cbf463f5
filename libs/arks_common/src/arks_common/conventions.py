"""The conventions several services share about the objects Arks derives from an application: labels, derived
names, the selector of serving pods, the model's path in a pod, owner references. One home, so the planner
that names an object and the deployer or slo-scaler that finds it again cannot drift apart. Pure."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from arks_common.api.application import MODEL_MOUNT_PATH
from arks_common.api.endpoint import OBJECT_PREFIX
from arks_common.api.meta import DNS_SUBDOMAIN, GROUP, VERSION

_OBJECT_NAME = re.compile(DNS_SUBDOMAIN)


def is_object_name(name: str) -> bool:
    """Whether `name` can name an object such as an ArksModel (a DNS-1123 subdomain, as Kubernetes validates it)."""
    return len(name) <= 253 and _OBJECT_NAME.fullmatch(name) is not None


LABEL_APPLICATION = "arks.ai/application"
"""On every object and pod derived from an application; the deployer finds what it owns by it."""
LABEL_MODEL = "arks.ai/model"
LABEL_COMPONENT = "arks.ai/role"
"""Which role of the application an object or pod serves: `serve` for an aggregated service; PD-separated
serving adds `prefill`, `decode` and `router`."""
LABEL_ROLE = "arks.ai/work-load-role"
"""A pod's place in its replica group: `leader` or `worker` (the upstream operator's label)."""
LABEL_SERVED_MODEL = "arks.ai/served-model"
"""On an application's pods: its served model name in label form (`served_model_label`); an ArksEndpoint's
router finds its backends by it."""
LABEL_ENDPOINT_BACKEND = "arks.ai/endpoint-backend"
"""`"true"` on the pods that answer an application's OpenAI API, the backends an ArksEndpoint's router may pick:
the leaders of the `serve` role, or the PD router (`router` role), which stands for its prefill and decode groups
(`answers_openai`)."""
LABEL_ENDPOINT = "arks.ai/endpoint"
"""On every object derived from an ArksEndpoint (its router's Deployment, Service, account and role)."""
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "arks"
FINALIZER = "arks.ai/cleanup"
PLAN_HASH_ANNOTATION = "arks.ai/plan-hash"

ROLE_SERVE = "serve"
ROLE_ROUTER = "router"
ROLE_PREFILL = "prefill"
ROLE_DECODE = "decode"
PD_ROLES = (ROLE_ROUTER, ROLE_PREFILL, ROLE_DECODE)
"""The roles of PD-separated serving (docs/pd.md), each its own LeaderWorkerSet `A-<role>`."""
POD_LEADER = "leader"
POD_WORKER = "worker"
RUNTIME_CONTAINER = "runtime"
"""The container of a group's pod that runs the runtime; the slo-scaler reads when it last started (its counters
begin at zero then)."""


def answers_openai(role: str, pod: str) -> bool:
    """Whether a pod of `role` (`leader`/`worker`) serves the application's OpenAI API: an aggregated group's
    leader, or a PD application's router; never a worker, a prefill or a decode engine."""
    return pod == POD_LEADER and role in (ROLE_SERVE, ROLE_ROUTER)


SERVICE_PREFIX = "arks-application-"
ENDPOINT_PREFIX = OBJECT_PREFIX
ENDPOINT_KIND = "ArksEndpoint"
APPLICATION_API_VERSION = f"{GROUP}/{VERSION}"
APPLICATION_KIND = "ArksApplication"


def service_name(application: str) -> str:
    """The Service of an application, as the user guide names it."""
    return f"{SERVICE_PREFIX}{application}"


def endpoint_object_name(endpoint: str) -> str:
    """The router Deployment, Service, ServiceAccount, Role and RoleBinding of an endpoint share this name."""
    return f"{ENDPOINT_PREFIX}{endpoint}"


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


ENDPOINT_MEMBER_PREFIX = "endpoint.arks.ai/"


def endpoint_member_label(endpoint: str) -> str:
    """The label (`"true"`) the deployer puts on the live backend pods of the applications an ArksEndpoint lists
    explicitly (spec.applications), so its router can select exactly them: smg selects by equal labels only. Set
    on the pods, not in their template, so a change of the list restarts nothing."""
    return f"{ENDPOINT_MEMBER_PREFIX}{endpoint}"


def served_model_label(served_model_name: str) -> str:
    """A served model name as a label value: itself when it is one (`qwen-7b`), otherwise (`Qwen/Qwen2.5-7B`,
    too long) `m.` and a digest of it, so every name maps to one value and two names almost surely not to the
    same. The router learns the real name from each backend's `/v1/models`; the label only selects."""
    if len(served_model_name) <= 63 and _LABEL_VALUE.match(served_model_name):
        return served_model_name
    return "m." + hashlib.sha256(served_model_name.encode()).hexdigest()[:40]


def group_set_name(application: str, role: str = ROLE_SERVE) -> str:
    """The LeaderWorkerSet of one role: the application's own name for `serve` (the user guide's pod names
    `A-0`, `A-0-1` follow from it), `A-<role>` for the others."""
    return application if role == ROLE_SERVE else f"{application}-{role}"


def owned_selector(application: str) -> str:
    """Every object Arks derived from the application (the deployer's diff and finalizer list by it)."""
    return f"{LABEL_APPLICATION}={application}"


def leader_selector(application: str, role: str | None = None) -> str:
    """The leader pods (one per replica group) of the application, or of one of its roles: what the Service,
    the scale subresource's selector and the slo-scaler count."""
    base = f"{LABEL_APPLICATION}={application},{LABEL_ROLE}={POD_LEADER}"
    return base if role is None else f"{base},{LABEL_COMPONENT}={role}"


def model_path(repo_id: str) -> str:
    """The model's directory in the pod: the model volume is mounted read-only at `/models`, and the
    model-loader downloads the ArksModel `spec.model` (a hub repository id) into `<volume>/<repo id>`, so
    `Qwen/Qwen2.5-7B-Instruct-1M` is served from `/models/Qwen/Qwen2.5-7B-Instruct-1M`."""
    return f"{MODEL_MOUNT_PATH}/{repo_id.strip('/')}"


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    """The controller reference that lets the garbage collector remove what Arks derived with its owner."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def application_owner(name: str, uid: str) -> dict[str, Any]:
    return owner_reference(APPLICATION_API_VERSION, APPLICATION_KIND, name, uid)


def is_owned_by(obj: dict[str, Any], uid: str) -> bool:
    """True when `obj` names `uid` as its controller: the only objects the deployer may update or prune."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, dict) and r.get("uid") == uid and r.get("controller") for r in refs)
