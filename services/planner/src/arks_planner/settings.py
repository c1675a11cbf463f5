"""The planner's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from arks_common.settings import RelistSettings


class PlannerSettings(RelistSettings):
    """`relist_seconds`: how often the plans of applications and endpoints that no longer exist are looked for and
    removed (as at start): a deletion may never have been told (an object deleted while the watcher was down)."""

    kubeconfig: str | None = None
    runtime_profiles_file: str | None = None
    """A YAML file whose runtime profiles override the built-in ones (per runtime, per field)."""
    runtime_profiles_set: str = "default"
    """Which shipped profile set the override merges over: `default` (current releases) or an older one."""
    router_image: str = "ghcr.io/arks-ai/arks-router:0.1.0"
    """The image of every ArksEndpoint's router unless the endpoint names one: the project's (deploy/router/
    Dockerfile, `make images` builds it: smg 1.13.0 and nothing else), or any image with `smg==1.13.0` on PATH."""
