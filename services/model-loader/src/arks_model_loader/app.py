"""The model-loader: owns ArksModel's storage and download, and the applications' `Loaded` gate."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from arks_common.events.contract import MODEL_LOADER_OBJECTS
from arks_common.events.partitions import partition_of
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.events import EventRecorder
from arks_common.kube.mirror import mirror
from arks_common.kube.resources import MODELS
from arks_common.runner import ServiceContext
from arks_common.stopping import sleep_unless
from arks_model_loader.core.ready_models import ReadyModels
from arks_model_loader.core.storage import DownloaderConfig
from arks_model_loader.gate import LoadedGate
from arks_model_loader.handlers import Handlers
from arks_model_loader.models import ModelReconciler
from arks_model_loader.settings import ModelLoaderSettings

CONSUMERS = (MODEL_LOADER_OBJECTS,)


def make_setup(settings: ModelLoaderSettings) -> Callable[[ServiceContext], Awaitable[Callable[[], Awaitable[None]]]]:
    async def setup(ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
        kube = Kube(await load_api_client(settings.kubeconfig), "arks-model-loader")
        ctx.kube = kube  # its partition Leases
        events = EventRecorder(kube, "model-loader")
        config = DownloaderConfig(
            image=settings.downloader_image,
            backoff_limit=settings.download_backoff_limit,
            hf_endpoint=settings.hf_endpoint,
            service_account=settings.download_service_account,
        )
        ready_models = ReadyModels()
        ctx.add_task("ready models", functools.partial(_watch_models, kube, ready_models, settings))
        gate = LoadedGate(kube, events, lambda: ctx.partitions_taken, ready_models)
        models = ModelReconciler(kube, events, config)
        handlers = Handlers(models, gate)
        ctx.consume(MODEL_LOADER_OBJECTS, handlers.on_object)
        ctx.add_task(
            "models resync",
            functools.partial(_resync, models, ready_models, settings.relist_seconds, ctx, settings.bus_partitions),
        )
        return kube.close

    return setup


async def _watch_models(kube: Kube, models: ReadyModels, settings: ModelLoaderSettings, stop: asyncio.Event) -> None:
    await mirror(kube, "model", MODELS, models, stop, settings.watch_timeout_seconds, settings.stall_seconds)


async def _resync(
    models: ModelReconciler,
    ready_models: ReadyModels,
    every: float,
    ctx: ServiceContext,
    partitions: int,
    stop: asyncio.Event,
) -> None:
    # each replica reconciles the models of the partitions it holds (their events come to it; a Job's or claim's
    # event, partitioned by its own name, may come to another, whose status write goes onto the model's version it
    # read, never over a newer status); an idle model costs a few reads
    while not stop.is_set():
        await sleep_unless(stop, every)
        if not stop.is_set():
            owned = set(ctx.owned_partitions())
            await models.resync([m for m in ready_models.known() or [] if partition_of(*m, partitions) in owned])
