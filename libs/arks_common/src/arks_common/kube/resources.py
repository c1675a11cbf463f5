"""The Kubernetes resources Arks reads and writes, and the labels it puts on what it creates."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from arks_common.api.meta import GROUP, VERSION
from arks_common.conventions import (  # re-exported: the labels belong with the resources that carry them
    FINALIZER as FINALIZER,
)
from arks_common.conventions import (
    LABEL_APPLICATION as LABEL_APPLICATION,
)
from arks_common.conventions import (
    LABEL_COMPONENT as LABEL_COMPONENT,
)
from arks_common.conventions import (
    LABEL_MANAGED_BY as LABEL_MANAGED_BY,
)
from arks_common.conventions import (
    LABEL_MODEL as LABEL_MODEL,
)
from arks_common.conventions import (
    LABEL_ROLE as LABEL_ROLE,
)
from arks_common.conventions import (
    MANAGED_BY as MANAGED_BY,
)
from arks_common.conventions import (
    service_name as service_name,
)

FIELD_MANAGER_PREFIX = "arks-"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The API path; a namespace or name is one segment, percent-encoded (names come from users' specs: a
        `?` or `#` in one must not become a query or a fragment). One that can be no segment raises ValueError."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{path_segment(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{path_segment(name)}"
            if subresource:
                base += f"/{path_segment(subresource)}"
        return base


def can_be_path_segment(text: str) -> bool:
    """Kubernetes' `IsValidPathSegmentName`: no object is named `.` or `..` or with a `/` or `%` in it. The API
    server decodes a path before routing it, so a `/` percent-encoded would still split the path (`qwen-7b/status`
    would read another object's status subresource): such a name is never sent."""
    return text not in ("", ".", "..") and "/" not in text and "%" not in text


def path_segment(text: str) -> str:
    if not can_be_path_segment(text):
        raise ValueError(f"{text!r} cannot be the name of a Kubernetes object")
    return quote(text, safe="")


APPLICATIONS = Resource(GROUP, VERSION, "arksapplications", "ArksApplication")
MODELS = Resource(GROUP, VERSION, "arksmodels", "ArksModel")
ENDPOINTS = Resource(GROUP, VERSION, "arksendpoints", "ArksEndpoint")
LEADERWORKERSETS = Resource("leaderworkerset.x-k8s.io", "v1", "leaderworkersets", "LeaderWorkerSet")
SERVICES = Resource("", "v1", "services", "Service")
PODS = Resource("", "v1", "pods", "Pod")
EVENTS = Resource("", "v1", "events", "Event")
SECRETS = Resource("", "v1", "secrets", "Secret")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
JOBS = Resource("batch", "v1", "jobs", "Job")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
STORAGECLASSES = Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False)

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
"""Gateway API (standard channel, v1 since gateway-api 1.0): an endpoint's route through an existing gateway."""

ENDPOINT_KINDS: dict[str, Resource] = {
    r.kind: r for r in (SERVICEACCOUNTS, ROLES, ROLEBINDINGS, DEPLOYMENTS, SERVICES, HTTPROUTES)
}
"""The kinds an endpoint plan may ask for (its router's objects and its optional route); the deployer applies
exactly these."""

OWNED_KINDS: dict[str, Resource] = {
    r.kind: r for r in (LEADERWORKERSETS, SERVICES, DEPLOYMENTS, SERVICEACCOUNTS, ROLES, ROLEBINDINGS)
}
"""The kinds a plan may ask for, by `kind`: the deployer lists, applies and prunes exactly these."""
