"""Builders for tests of the model-loader's shell on an in-memory cluster: the guide's model, driven by reconciles
as its events would drive it, with the claim bound and the download Job finished by the test."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from arks_common.bus.consumer import Delivery
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, ObjectRef
from arks_common.kube.resources import APPLICATIONS, JOBS, MODELS, PVCS, STORAGECLASSES
from arks_model_loader.core.storage import DownloaderConfig
from arks_model_loader.gate import LoadedGate
from arks_model_loader.handlers import Handlers
from arks_model_loader.models import ModelReconciler
from support.builders import sample
from support.memory_kube import MemoryEvents, MemoryKube

CONFIG = DownloaderConfig(image="ghcr.io/arks-ai/arks-model-downloader:0.1.0")
NS = "default"
LOCAL_PATH = {
    "metadata": {
        "name": "local-path",
        "namespace": "",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
    },
    "provisioner": "rancher.io/local-path",
}


def model_dict(name: str = "qwen-7b", claim: str | None = None, token: str | None = None) -> dict[str, Any]:
    """The guide's sample, renamed (its claim too, unless `claim` names another)."""
    doc = sample("model.yaml")
    doc["metadata"]["name"] = name
    doc["spec"]["storage"]["pvc"]["name"] = claim or name
    if token:
        doc["spec"]["source"]["huggingface"] = {"tokenSecretRef": token}
    return doc


def application_dict(model: str, name: str = "chat", generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksApplication",
        "metadata": {"name": name, "namespace": NS, "generation": generation},
        "spec": {"model": {"name": model}},
    }


@dataclass
class Cluster:
    kube: MemoryKube
    events: MemoryEvents
    models: ModelReconciler
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def handlers(self) -> Handlers:
        return Handlers(self.models, LoadedGate(self.kube.as_kube(), self.events.as_recorder()))

    async def tell(self, kind: ObjectKind, obj: dict[str, Any], deleted: bool = False) -> None:
        """The watcher's event of `obj`, handled as the model-loader's consumer would."""
        meta = obj["metadata"]
        seq = next(self._sequence)
        ref = ObjectRef(kind=kind, namespace=meta["namespace"], name=meta["name"])
        data = ObjectChanged(ref=ref, resource_version=meta["resourceVersion"], deleted=deleted, object=obj)
        envelope = Envelope(id=f"e{seq}", source="test", time=datetime.now(UTC), data=data)
        subject = f"arks.object.{kind.value}.{meta['namespace']}.{meta['name']}"
        await self.handlers().on_object(envelope, Delivery(subject, 1, seq, {}))

    def loaded(self, application: str = "chat") -> dict[str, Any]:
        conditions = (self.kube.store[(APPLICATIONS.plural, NS, application)].get("status") or {}).get("conditions")
        return next(c for c in conditions or [] if c["type"] == "Loaded")

    def with_config(self, config: DownloaderConfig) -> Cluster:
        """The same cluster as another installation of the model-loader sees it (an upgrade)."""
        return Cluster(self.kube, self.events, ModelReconciler(self.kube.as_kube(), self.events.as_recorder(), config))

    async def reconcile(self, name: str = "qwen-7b", times: int = 1) -> None:
        for _ in range(times):
            await self.models.reconcile(NS, name)

    def status(self, name: str = "qwen-7b") -> dict[str, Any]:
        return dict(self.kube.store[(MODELS.plural, NS, name)].get("status") or {})

    def condition(self, type_: str, name: str = "qwen-7b") -> dict[str, Any]:
        return next(c for c in self.status(name).get("conditions") or [] if c["type"] == type_)

    def jobs(self) -> list[str]:
        return sorted(j["metadata"]["name"] for j in self.kube.objects(JOBS))

    def bind_claims(self) -> None:
        for pvc in self.kube.objects(PVCS):
            pvc.setdefault("status", {})["phase"] = "Bound"

    def complete_jobs(self) -> None:
        for job in self.kube.objects(JOBS):
            job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}


def cluster(*models: dict[str, Any], config: DownloaderConfig = CONFIG) -> Cluster:
    kube, events = MemoryKube(), MemoryEvents()
    kube.put(STORAGECLASSES, LOCAL_PATH)  # the guide's class, as the local cluster has it
    for model in models:
        kube.put(MODELS, copy.deepcopy(model))
    return Cluster(kube, events, ModelReconciler(kube.as_kube(), events.as_recorder(), config))


async def ready(name: str = "qwen-7b", config: DownloaderConfig = CONFIG) -> Cluster:
    """The guide's model driven to Ready: its claim created and bound, its download Job complete."""
    c = cluster(model_dict(name), config=config)
    await c.reconcile(name)
    c.bind_claims()
    await c.reconcile(name)
    c.complete_jobs()
    await c.reconcile(name)
    assert c.status(name)["phase"] == "Ready"
    return c
