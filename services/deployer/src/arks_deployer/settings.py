"""The deployer's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from typing import Annotated

from arks_common.settings import WATCH_TIMEOUT_SECONDS_RANGE, CommonSettings, whole


class DeployerSettings(CommonSettings):
    kubeconfig: str | None = None
    watch_timeout_seconds: Annotated[int, whole(*WATCH_TIMEOUT_SECONDS_RANGE)] = 300
    """How long one watch of the owned-objects cache lasts before it is renewed from where it ended."""
