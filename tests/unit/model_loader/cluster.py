"""Builders for tests of the model-loader's shell on an in-memory cluster: the guide's model, driven by reconciles
as its events would drive it, with the claim bound and the download Job finished by the test."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from arks_common.kube.resources import JOBS, MODELS, PVCS
from arks_model_loader.core.storage import DownloaderConfig
from arks_model_loader.models import ModelReconciler
from support.builders import sample
from support.memory_kube import MemoryEvents, MemoryKube

CONFIG = DownloaderConfig(image="ghcr.io/arks-ai/arks-model-downloader:0.1.0")
NS = "default"


def model_dict(name: str = "qwen-7b", claim: str | None = None, token: str | None = None) -> dict[str, Any]:
    """The guide's sample, renamed (its claim too, unless `claim` names another)."""
    doc = sample("model.yaml")
    doc["metadata"]["name"] = name
    doc["spec"]["storage"]["pvc"]["name"] = claim or name
    if token:
        doc["spec"]["source"]["huggingface"] = {"tokenSecretRef": token}
    return doc


@dataclass
class Cluster:
    kube: MemoryKube
    events: MemoryEvents
    models: ModelReconciler

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
