"""The Kubernetes resources Arks reads and writes, and the labels it puts on what it creates."""

from __future__ import annotations

from dataclasses import dataclass

from arks_common.api.meta import GROUP, VERSION

FIELD_MANAGER_PREFIX = "arks-"
LABEL_APPLICATION = "arks.ai/application"
LABEL_MODEL = "arks.ai/model"
LABEL_ROLE = "arks.ai/work-load-role"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "arks"
FINALIZER = "arks.ai/cleanup"


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
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


APPLICATIONS = Resource(GROUP, VERSION, "arksapplications", "ArksApplication")
MODELS = Resource(GROUP, VERSION, "arksmodels", "ArksModel")
LEADERWORKERSETS = Resource("leaderworkerset.x-k8s.io", "v1", "leaderworkersets", "LeaderWorkerSet")
SERVICES = Resource("", "v1", "services", "Service")
PODS = Resource("", "v1", "pods", "Pod")
EVENTS = Resource("", "v1", "events", "Event")
SECRETS = Resource("", "v1", "secrets", "Secret")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
JOBS = Resource("batch", "v1", "jobs", "Job")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)


def service_name(application: str) -> str:
    """The Service of an application, as the user guide names it."""
    return f"arks-application-{application}"
