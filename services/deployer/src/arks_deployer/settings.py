"""The deployer's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from arks_common.settings import CommonSettings


class DeployerSettings(CommonSettings):
    kubeconfig: str | None = None
    watch_timeout_seconds: int = 300
    """How long one watch of the owned-objects cache lasts before it is renewed from where it ended."""
