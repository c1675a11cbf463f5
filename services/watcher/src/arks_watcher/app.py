"""The watcher: list+watch the objects Arks cares about and publish their changes on `arks.object.>`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from arks_common.kube.client import Kube, load_api_client
from arks_common.runner import ServiceContext
from arks_watcher.adapters.follow import Follower
from arks_watcher.core.kinds import parse_kinds
from arks_watcher.settings import WatcherSettings


def make_setup(settings: WatcherSettings) -> Callable[[ServiceContext], Awaitable[Callable[[], Awaitable[None]]]]:
    # read at start, before anything is reached: a bad list stops the watcher with a clear error (`__main__`)
    kinds = parse_kinds(settings.watch_kinds)
    if not kinds:
        raise ValueError("names no kind to follow")

    async def setup(ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
        kube = Kube(await load_api_client(settings.kubeconfig), "arks-watcher")
        for watched in kinds:
            follower = Follower(
                kube,
                ctx.js,
                watched,
                settings.resync_seconds,
                settings.watch_timeout_seconds,
                settings.stall_seconds,
            )
            ctx.add_task(f"follow {watched.kind.value}", follower.run)
        return kube.close

    return setup
