"""The charts' default images are the ones `make images` builds: same repositories, same tag (the project
version, which is every chart's appVersion and what the services answer to --version)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from arks_model_loader.settings import ModelLoaderSettings
from arks_planner.settings import PlannerSettings
from support.images import image_refs

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "deploy" / "charts"
SERVICES = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _default_image(service: str) -> str:
    """What the chart renders with no values set: repository, and the tag or else the chart's appVersion."""
    values = yaml.safe_load((CHARTS / service / "values.yaml").read_text())
    chart = yaml.safe_load((CHARTS / service / "Chart.yaml").read_text())
    return f"{values['image']['repository']}:{values['image']['tag'] or chart['appVersion']}"


def test_make_images_builds_every_service_the_downloader_and_the_router_at_the_project_version() -> None:
    refs = image_refs()
    assert sorted(refs) == sorted([*SERVICES, "model-downloader", "router"])
    assert {ref.rsplit(":", 1)[1] for ref in refs.values()} == {VERSION}


def test_each_chart_defaults_to_the_image_make_images_builds() -> None:
    refs = image_refs()
    assert {s: _default_image(s) for s in SERVICES} == {s: refs[s] for s in SERVICES}


def test_the_download_jobs_default_to_the_downloader_image_make_images_builds() -> None:
    values = yaml.safe_load((CHARTS / "model-loader" / "values.yaml").read_text())
    downloader = image_refs()["model-downloader"]
    assert values["downloader"]["image"] == downloader
    assert ModelLoaderSettings.model_fields["downloader_image"].default == downloader


def test_the_endpoint_routers_default_to_the_router_image_make_images_builds() -> None:
    values = yaml.safe_load((CHARTS / "planner" / "values.yaml").read_text())
    router = image_refs()["router"]
    assert values["router"]["image"] == router
    assert PlannerSettings.model_fields["router_image"].default == router
