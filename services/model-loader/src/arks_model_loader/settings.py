"""The model-loader's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from pydantic import field_validator

from arks_common.settings import CommonSettings, check_relist_seconds


class ModelLoaderSettings(CommonSettings):
    kubeconfig: str | None = None
    downloader_image: str = "ghcr.io/arks-ai/arks-model-downloader:0.1.0"
    """The image of the project's downloader (services/model-loader/Dockerfile.downloader)."""
    download_backoff_limit: int = 3
    hf_endpoint: str | None = None
    """A Hugging Face Hub mirror for the download Jobs (HF_ENDPOINT); unset: the public Hub."""
    download_service_account: str | None = None
    watch_timeout_seconds: int = 300
    """How long one watch of Ready models runs before it is renewed."""
    relist_seconds: float = 300.0
    """How often every model is reconciled, events or not: a deletion the watcher never told (it was down) may have
    been the event a model waited for (its last user's, its download Job's, its claim's). From 1 to 86400
    (`check_relist_seconds`)."""

    @field_validator("relist_seconds")
    @classmethod
    def _relist_in_range(cls, value: float) -> float:
        return check_relist_seconds(value)
