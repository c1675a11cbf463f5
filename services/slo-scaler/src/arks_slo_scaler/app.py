"""The slo-scaler: decides replica groups from latency SLOs and publishes the decisions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from arks_common.events.contract import SLO_SCALER_OBJECTS
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.events import EventRecorder
from arks_common.kube.leader import LeaderElector
from arks_common.runner import ServiceContext
from arks_slo_scaler.adapters.metrics_source import MetricsSource, PrometheusSource, ScrapeSource, scrape_session
from arks_slo_scaler.core.decide import ScalerConfig
from arks_slo_scaler.handlers import Handlers
from arks_slo_scaler.scaling import SloScaler
from arks_slo_scaler.settings import SloScalerSettings

CONSUMERS = (SLO_SCALER_OBJECTS,)


def make_setup(settings: SloScalerSettings) -> Callable[[ServiceContext], Awaitable[Callable[[], Awaitable[None]]]]:
    async def setup(ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
        kube = Kube(await load_api_client(settings.kubeconfig), "arks-slo-scaler")
        session = scrape_session()
        source: MetricsSource
        if settings.metrics_source == "prometheus":
            source = PrometheusSource(session, settings.prometheus_url, settings.scrape_timeout_seconds)
        else:
            source = ScrapeSource(
                session, settings.metrics_port, settings.metrics_path, settings.scrape_timeout_seconds
            )
        config = ScalerConfig(initial_capacity_per_group=settings.capacity_prior_per_group)
        events = EventRecorder(kube, "slo-scaler")
        elector = LeaderElector(kube, settings.effective_lease_namespace(), settings.lease_name)
        scaler = SloScaler(
            kube,
            ctx.js,
            source,
            events,
            settings.scrape_interval_seconds,
            config,
            is_leader=elector.is_leader,
            concurrent_steps=settings.concurrent_steps,
            concurrent_scrapes=settings.concurrent_scrapes,
            relist_seconds=settings.relist_seconds,
        )
        ctx.add_task("leader election", elector.run)
        ctx.consume(SLO_SCALER_OBJECTS, Handlers(scaler).on_object)
        ctx.add_task("scale loop", scaler.run)

        async def cleanup() -> None:
            await session.close()
            await kube.close()

        return cleanup

    return setup
