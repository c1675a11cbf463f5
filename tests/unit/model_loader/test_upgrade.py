"""Upgrading Arks (a new downloader image, another Hub endpoint) leaves every Ready model Ready: the download Job is
named after the model's own inputs, and a download an earlier installation started is the model's, whatever its
name."""

from __future__ import annotations

import copy

from unit.model_loader.cluster import CONFIG, cluster, model_dict, ready

from arks_common.api.model import ArksModel
from arks_common.kube.resources import JOBS, MODELS
from arks_model_loader.core.storage import DownloaderConfig, download_job

UPGRADED = DownloaderConfig(
    image="ghcr.io/arks-ai/arks-model-downloader:0.2.0", hf_endpoint="https://hf-mirror.example"
)


async def test_a_new_downloader_image_or_hub_endpoint_keeps_a_ready_models_download() -> None:
    c = await ready()
    before = c.jobs()
    c.kube.calls.clear()
    await c.with_config(UPGRADED).reconcile()  # any event of the model after the upgrade
    assert c.jobs() == before
    assert c.status()["phase"] == "Ready"
    assert [call for call in c.kube.calls if call[0] in ("create", "delete")] == []


async def test_a_download_an_earlier_installation_named_otherwise_is_the_models() -> None:
    c = cluster(model_dict())
    await c.reconcile()  # the claim
    c.bind_claims()
    model = c.kube.store[(MODELS.plural, "default", "qwen-7b")]
    earlier = copy.deepcopy(download_job(ArksModel.model_validate(model), CONFIG, ""))  # nor did it say its claim
    earlier["metadata"]["name"] = "qwen-7b-download-0ld1mage"  # a digest of the image and endpoint too
    c.kube.put(JOBS, earlier)
    c.complete_jobs()
    await c.with_config(UPGRADED).reconcile()
    assert c.jobs() == ["qwen-7b-download-0ld1mage"]
    assert c.status()["phase"] == "Ready"
