"""The model-loader's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from arks_common.settings import CommonSettings


class ModelLoaderSettings(CommonSettings):
    kubeconfig: str | None = None
