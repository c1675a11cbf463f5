"""The slo-scaler's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DECISIONS = Counter("arks_slo_scaler_decisions_total", "Decisions by direction and reason.", ["direction", "reason"])
SCRAPE_PROBLEMS = Counter(
    "arks_slo_scaler_scrape_problems_total", "Scrapes that failed or had garbled lines, by kind.", ["kind"]
)
STEP_FAILURES = Counter(
    "arks_slo_scaler_step_failures_total", "Scaling steps of one application that broke, by error type.", ["error"]
)
LEADER = Gauge("arks_slo_scaler_leader", "1 while this replica holds the lease and makes the decisions.")
