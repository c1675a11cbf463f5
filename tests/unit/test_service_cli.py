"""The services' command line: the environment listed in `--help`, and one version everywhere."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import SecretStr

from arks_common.cli import settings_help
from arks_common.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]


class _Settings(CommonSettings):
    api_token: SecretStr | None = None
    region: str = "eu"


def test_help_lists_each_variable_with_its_default_and_never_a_secret() -> None:
    lines = {line.split()[0]: line.split(None, 1)[1] for line in settings_help(_Settings).splitlines()}
    assert lines["ARKS_NATS_URL"] == "(default nats://127.0.0.1:4222)"
    assert lines["ARKS_NATS_USER"] == "(unset)"
    assert lines["ARKS_NATS_PASSWORD"] == "(secret)"
    assert lines["ARKS_API_TOKEN"] == "(secret)"
    assert lines["ARKS_REGION"] == "(default eu)"


def test_every_package_has_the_project_version() -> None:
    """`--version`, the image tags and the charts' appVersion are all this one number."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    packages = sorted((ROOT / "services").glob("*/pyproject.toml")) + sorted((ROOT / "libs").glob("*/pyproject.toml"))
    versions = {str(p.parent.relative_to(ROOT)): tomllib.loads(p.read_text())["project"]["version"] for p in packages}
    assert len(versions) == 6
    assert all(v == project for v in versions.values()), versions
