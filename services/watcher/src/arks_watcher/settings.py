"""The watcher's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from arks_common.settings import CommonSettings


class WatcherSettings(CommonSettings):
    kubeconfig: str | None = None
    watch_kinds: str = "application,model,leaderworkerset,job,pvc,endpoint"
    resync_seconds: float = 600.0
    watch_timeout_seconds: int = 300
