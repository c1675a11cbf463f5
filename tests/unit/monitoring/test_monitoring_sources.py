"""The monitoring sources agree with the code they describe: every runtime name the slo-scaler parses is unified by
a rule, every recorded series a dashboard reads is recorded, and both scrape paths give the same labels."""

from __future__ import annotations

import re

import yaml

from arks_monitoring.dashboards import all_dashboards
from arks_monitoring.router import router_pod_monitor_endpoints, router_relabel_configs
from arks_monitoring.rules import GROUP_LABELS, rule_groups
from arks_monitoring.scrape import pod_monitor_endpoints, runtime_relabel_configs
from arks_slo_scaler.core.metrics import MAPPINGS


def _rules() -> list[dict[str, object]]:
    return [rule for group in rule_groups()["groups"] for rule in group["rules"]]


def test_every_runtime_metric_the_scaler_parses_is_unified() -> None:
    text = yaml.safe_dump(rule_groups())
    for mapping in MAPPINGS.values():
        names = [n for field in ("time_to_first_token", "inter_token_latency") for n in getattr(mapping, field)]
        names += [*mapping.requests_running, *mapping.requests_waiting, *mapping.kv_cache_usage]
        names += [*mapping.prompt_tokens_total, *mapping.generation_tokens_total, *mapping.prompt_tokens_histogram]
        for name in names:
            assert name in text, name


def test_every_recorded_series_a_dashboard_reads_is_recorded() -> None:
    recorded = {str(r["record"]) for r in _rules() if "record" in r}
    used = set()
    for board in all_dashboards().values():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                used |= set(re.findall(r"arks_(?:group|application):[a-z0-9_:]+", target["expr"]))
    assert used, "the dashboards read no recorded series"
    assert used <= recorded, used - recorded


def test_every_panel_has_a_query_and_every_query_a_legend() -> None:
    for name, board in all_dashboards().items():
        panels = [p for p in board["panels"] if p["type"] != "row"]
        assert len(panels) >= 6, name
        for panel in panels:
            assert panel["targets"], panel["title"]
            assert all(t["expr"] and t["legendFormat"] for t in panel["targets"]), panel["title"]


def test_unified_series_carry_the_unified_labels() -> None:
    for rule in _rules():
        if str(rule.get("record", "")).startswith("arks_group:"):
            assert f"sum by ({', '.join(GROUP_LABELS)}" in str(rule["expr"]) or "max by" in str(rule["expr"])


def test_pod_monitor_and_plain_job_give_the_same_pod_labels() -> None:
    plain = {
        r["target_label"]: r["source_labels"][0]
        for r in runtime_relabel_configs()
        if r.get("target_label") in {"application", "role", "group"}
    }
    for endpoint in pod_monitor_endpoints():
        operator = {r["targetLabel"]: r["sourceLabels"][0] for r in endpoint["relabelings"]}
        assert operator == plain
    assert {e["port"] for e in pod_monitor_endpoints()} == {"http", "metrics"}


def test_router_scrape_keeps_router_pods_and_labels_them_with_their_endpoint() -> None:
    plain = router_relabel_configs()
    keep = [r for r in plain if r.get("action") == "keep"]
    assert keep[0]["source_labels"] == ["__meta_kubernetes_pod_labelpresent_arks_ai_endpoint"]
    assert keep[1]["regex"] == "metrics"  # the router container's port for smg's exporter
    labels = {r["target_label"]: r["source_labels"][0] for r in plain if "target_label" in r}
    (endpoint,) = router_pod_monitor_endpoints()
    operator = {r["targetLabel"]: r["sourceLabels"][0] for r in endpoint["relabelings"]}
    assert operator == {"arks_endpoint": labels["arks_endpoint"]}
    assert endpoint["port"] == "metrics"


def test_router_records_read_only_smg_series_per_endpoint() -> None:
    groups = {g["name"]: g["rules"] for g in rule_groups()["groups"]}
    records = groups["arks-router.records"]
    for rule in records:
        assert str(rule["record"]).startswith("arks_endpoint:")
        assert "namespace, arks_endpoint" in str(rule["expr"]) or "histogram_quantile" in str(rule["expr"])
        names = set(re.findall(r"\b(smg_[a-z_]+)", str(rule["expr"])))
        assert names <= {
            "smg_router_requests_total",
            "smg_router_request_errors_total",
            "smg_http_responses_total",
            "smg_router_request_duration_seconds_bucket",
            "smg_router_request_duration_seconds_sum",
            "smg_router_request_duration_seconds_count",
            "smg_worker_requests_total",
            "smg_worker_health",
        }, names
    assert {a["alert"] for a in groups["arks-router.alerts"]} == {
        "ArksEndpointServerErrors",
        "ArksEndpointNoHealthyBackend",
    }
