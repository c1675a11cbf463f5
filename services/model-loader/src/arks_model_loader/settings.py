"""The model-loader's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from typing import Annotated

from arks_common.settings import WATCH_TIMEOUT_SECONDS_RANGE, RelistSettings, whole


class ModelLoaderSettings(RelistSettings):
    """`relist_seconds`: how often every model is reconciled, events or not: a deletion the watcher never told (it
    was down) may have been the event a model waited for (its last user's, its download Job's, its claim's)."""

    kubeconfig: str | None = None
    downloader_image: str = "ghcr.io/arks-ai/arks-model-downloader:0.1.0"
    """The image of the project's downloader (services/model-loader/Dockerfile.downloader)."""
    download_backoff_limit: Annotated[int, whole(0, 100)] = 3
    """The download Job's `backoffLimit`: retries of a failed download pod."""
    hf_endpoint: str | None = None
    """A Hugging Face Hub mirror for the download Jobs (HF_ENDPOINT); unset: the public Hub."""
    download_service_account: str | None = None
    watch_timeout_seconds: Annotated[int, whole(*WATCH_TIMEOUT_SECONDS_RANGE)] = 300
    """How long one watch of Ready models runs before it is renewed."""
