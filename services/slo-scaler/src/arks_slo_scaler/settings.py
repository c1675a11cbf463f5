"""The slo-scaler's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from arks_common.settings import CommonSettings, check_relist_seconds


class SloScalerSettings(CommonSettings):
    kubeconfig: str | None = None
    scrape_interval_seconds: float = 15.0
    metrics_source: Literal["scrape", "prometheus"] = "scrape"
    """`scrape`: GET each leader pod's metrics endpoint; `prometheus`: ask a Prometheus server (PromQL)."""
    metrics_port: int = 8080
    metrics_path: str = "/metrics"
    prometheus_url: str = "http://prometheus:9090"
    scrape_timeout_seconds: float = 5.0
    concurrent_steps: int = Field(default=32, ge=1)
    """Applications decided at once in a round (each step's API calls); a round lasts at most one scrape interval."""
    concurrent_scrapes: int = Field(default=64, ge=1)
    """Scrapes in flight at once, over all applications: a hung leader holds one for the scrape timeout."""
    relist_seconds: float = 300.0
    """The leader lists the applications when it takes the lead and this often while it leads: the replicas share
    one durable, so an application's events may reach a follower only. From 1 to 86400 (`check_relist_seconds`)."""
    lease_name: str = "arks-slo-scaler"
    capacity_prior_per_group: float | None = None
    """An operator's estimate of the requests per second one replica group serves within the SLO (from a load
    test). Optional: the scaler learns the capacity online; with a prior it sizes the fleet from the start."""

    @field_validator("relist_seconds")
    @classmethod
    def _relist_in_range(cls, value: float) -> float:
        return check_relist_seconds(value)
