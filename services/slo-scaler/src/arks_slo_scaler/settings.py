"""The slo-scaler's settings (environment, prefix ARKS_)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import field_validator

from arks_common.settings import PORT_RANGE, RelistSettings, check_number, seconds, whole

CAPACITY_PRIOR_MAX = 1_000_000.0
"""Requests per second one replica group could serve, at most: anything above is a typo, not a load test's result."""


class SloScalerSettings(RelistSettings):
    """`relist_seconds`: the leader lists the applications when it takes the lead and this often while it leads: the
    replicas share one durable, so an application's events may reach a follower only."""

    kubeconfig: str | None = None
    scrape_interval_seconds: Annotated[float, seconds(1.0, 3600.0)] = 15.0
    metrics_source: Literal["scrape", "prometheus"] = "scrape"
    """`scrape`: GET each leader pod's metrics endpoint; `prometheus`: ask a Prometheus server (PromQL)."""
    metrics_port: Annotated[int, whole(*PORT_RANGE)] = 8080
    metrics_path: str = "/metrics"
    prometheus_url: str = "http://prometheus:9090"
    scrape_timeout_seconds: Annotated[float, seconds(0.1, 600.0)] = 5.0
    concurrent_steps: Annotated[int, whole(1, 10000)] = 32
    """Applications decided at once in a round (each step's API calls); a round lasts at most one scrape interval."""
    concurrent_scrapes: Annotated[int, whole(1, 10000)] = 64
    """Scrapes in flight at once, over all applications: a hung leader holds one for the scrape timeout."""
    lease_name: str = "arks-slo-scaler"
    capacity_prior_per_group: float | None = None
    """An operator's estimate of the requests per second one replica group serves within the SLO (from a load
    test). Optional: the scaler learns the capacity online; with a prior it sizes the fleet from the start."""

    @field_validator("capacity_prior_per_group")
    @classmethod
    def _prior_in_range(cls, value: float | None) -> float | None:
        if value is None:
            return None
        what = "a number of requests per second"
        return check_number(value, "ARKS_CAPACITY_PRIOR_PER_GROUP", 0.0, CAPACITY_PRIOR_MAX, what, above=True)
