"""The watcher's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from typing import Annotated

from arks_common.settings import WATCH_TIMEOUT_SECONDS_RANGE, CommonSettings, seconds, whole


class WatcherSettings(CommonSettings):
    kubeconfig: str | None = None
    watch_kinds: str = "application,model,leaderworkerset,job,pvc,endpoint"
    resync_seconds: Annotated[float, seconds(1.0, 86400.0)] = 600.0
    """How often each followed kind is listed again (what a watch missed is published), from 1 s to a day."""
    watch_timeout_seconds: Annotated[int, whole(*WATCH_TIMEOUT_SECONDS_RANGE)] = 300
