"""Recording and alerting rules: the one source of the unified serving series and of Arks' alerts.

Unified series are recording rules over the runtimes' own series (docs/observability.md says why). The runtime
metric names are the slo-scaler's (`arks_slo_scaler.core.metrics.MAPPINGS`, whose docstring cites the versions),
so the rules and the scaler cannot disagree on what "TTFT" means for a runtime. Target labels `namespace`,
`application`, `role` and `group` come from the pod (see `scrape.py`); `runtime` is set by the rule that reads
that runtime's names, `model` is the served model name the runtime labels its series with.

Pure: builds dicts; `gen.py` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arks_common.api.application import Runtime
from arks_monitoring.router import router_alerts, router_records
from arks_slo_scaler.core.metrics import MAPPINGS, RuntimeMapping

GROUP_LABELS = ("namespace", "application", "model", "runtime", "role", "group")
APP_LABELS = ("namespace", "application")
RATE_WINDOW = "2m"
"""Dashboard rates: at least four scrapes at the charts' default 30 s interval."""
SLO_WINDOWS = ("5m", "30m", "2h")
QUANTILES = ("0.5", "0.9", "0.99")
ARKS_SERVICES = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")
SERVICE_JOB_REGEX = "arks-(" + "|".join(ARKS_SERVICES) + ")"
SERVICE_JOBS = f'job=~"{SERVICE_JOB_REGEX}"'
"""The scrape job of each service: its metrics Service's `app.kubernetes.io/name`, `arks-<service>` (the charts'
ServiceMonitors set `jobLabel` to it; the plain job in `scrape.py` does the same)."""

# The label each runtime puts the served model name in: vLLM `model_name` (vllm/v1/metrics/loggers.py, a6f0308c),
# SGLang `model_name` (python/sglang/srt/metrics/collector.py, 93d04878), Dynamo `model` (metrics catalog
# v1.4.0-v1.7.0, `dynamo_frontend_*`).
MODEL_LABEL = {Runtime.VLLM: "model_name", Runtime.SGLANG: "model_name", Runtime.DYNAMO: "model"}
# Dynamo's frontend is Rust (the `prometheus` crate), which writes a bucket edge of 1 as le="1"; the Python client
# of vLLM and SGLang writes le="1.0". Integral edges get ".0" so one `le` means one edge across runtimes.
NORMALIZE_LE = {Runtime.VLLM: False, Runtime.SGLANG: False, Runtime.DYNAMO: True}


@dataclass(frozen=True)
class Unified:
    """One unified series: its name, how it is read (histogram, counter, gauge) and where each runtime has it."""

    name: str
    kind: str  # "histogram" | "counter" | "gauge_sum" | "gauge_max"
    field: str  # the RuntimeMapping field


UNIFIED = (
    Unified("arks_time_to_first_token_seconds", "histogram", "time_to_first_token"),
    Unified("arks_inter_token_latency_seconds", "histogram", "inter_token_latency"),
    Unified("arks_requests_running", "gauge_sum", "requests_running"),
    Unified("arks_requests_waiting", "gauge_sum", "requests_waiting"),
    Unified("arks_kv_cache_usage_ratio", "gauge_max", "kv_cache_usage"),  # the fullest engine, as the scaler
    Unified("arks_prompt_tokens", "counter", "prompt_tokens_total"),
    Unified("arks_generation_tokens", "counter", "generation_tokens_total"),
    # PD-separated serving (SGLang): each server's disaggregation queues
    Unified("arks_prefill_bootstrap_queue_requests", "gauge_sum", "prefill_bootstrap_queue"),
    Unified("arks_prefill_transfer_queue_requests", "gauge_sum", "prefill_transfer_queue"),
    Unified("arks_decode_prealloc_queue_requests", "gauge_sum", "decode_prealloc_queue"),
    Unified("arks_decode_transfer_queue_requests", "gauge_sum", "decode_transfer_queue"),
)
SLOS = {"time_to_first_token": "time_to_first_token", "inter_token_latency": "inter_token_latency"}


def _names(mapping: RuntimeMapping, field: str) -> tuple[str, ...]:
    names: tuple[str, ...] = getattr(mapping, field)
    if field == "prompt_tokens_total" and not names:
        # a runtime without a prompt-token counter: its prompt-length histogram's sum counts the same tokens
        names = tuple(f"{n}_sum" for n in mapping.prompt_tokens_histogram)
    return names


def _relabel(expr: str, runtime: Runtime) -> str:
    out = f'label_replace({expr}, "runtime", "{runtime.value}", "", "")'
    if MODEL_LABEL[runtime] != "model":
        out = f'label_replace({out}, "model", "$1", "{MODEL_LABEL[runtime]}", "(.+)")'
    return out


def unified_expr(
    item: Unified, *, window: str = RATE_WINDOW, by: Sequence[str] = GROUP_LABELS, suffix: str = ""
) -> str:
    """PromQL giving `item` for every runtime, aggregated `by` these labels (plus `le` for buckets).

    `suffix` picks a histogram's `_bucket`, `_sum` or `_count`. Within a runtime the newest name wins (`or`), as in
    the scaler's parser; runtimes never collide (their `runtime` label differs). Only pods of an application count.
    """
    labels = [*by, "le"] if suffix == "_bucket" else list(by)
    aggregate = "max" if item.kind == "gauge_max" else "sum"
    parts = []
    for runtime, mapping in MAPPINGS.items():
        per_name = []
        for name in _names(mapping, item.field):
            selector = f'{name}{suffix}{{application!=""}}'
            expr = f"rate({selector}[{window}])" if item.kind in ("histogram", "counter") else selector
            if suffix == "_bucket" and NORMALIZE_LE[runtime]:
                expr = f'label_replace({expr}, "le", "$1.0", "le", "([0-9]+)")'
            per_name.append(f"{aggregate} by ({', '.join(labels)}) ({_relabel(expr, runtime)})")
        if per_name:
            parts.append(per_name[0] if len(per_name) == 1 else "(" + " or ".join(per_name) + ")")
    return "\n  or ".join(parts)


def _record(name: str, expr: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": name, "expr": expr}
    if labels:
        rule["labels"] = labels
    return rule


def serving_records() -> list[dict[str, Any]]:
    """Per replica group, the unified series; per application, latency quantiles and means."""
    rules = []
    for item in UNIFIED:
        if item.kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                expr = unified_expr(item, suffix=suffix)
                rules.append(_record(f"arks_group:{item.name}{suffix}:rate{RATE_WINDOW}", expr))
        elif item.kind == "counter":
            rules.append(_record(f"arks_group:{item.name}:rate{RATE_WINDOW}", unified_expr(item)))
        else:
            rules.append(_record(f"arks_group:{item.name}", unified_expr(item)))
    app = ", ".join(("namespace", "application", "model", "runtime", "role"))
    for item in (i for i in UNIFIED if i.kind == "histogram"):
        buckets = f"arks_group:{item.name}_bucket:rate{RATE_WINDOW}"
        for q in QUANTILES:
            expr = f"histogram_quantile({q}, sum by ({app}, le) ({buckets}))"
            rules.append(_record(f"arks_application:{item.name}:quantile_rate{RATE_WINDOW}", expr, {"quantile": q}))
        total = f"sum by ({app}) (arks_group:{item.name}_sum:rate{RATE_WINDOW})"
        count = f"sum by ({app}) (arks_group:{item.name}_count:rate{RATE_WINDOW})"
        rules.append(_record(f"arks_application:{item.name}:mean_rate{RATE_WINDOW}", f"{total} / ({count} > 0)"))
    return rules


def slo_records() -> list[dict[str, Any]]:
    """Per application and SLO, over each window: the latency buckets, the share of requests slower than the
    target (the error ratio) and how fast that spends the error budget (burn rate 1 = exactly on objective)."""
    by_name = {i.field: i for i in UNIFIED}
    objective = "max by (namespace, application, slo, le) (arks_application_slo_objective_ratio)"
    rules = []
    for window in SLO_WINDOWS:
        buckets = f"arks_application:arks_slo_latency_bucket:rate{window}"
        for slo in SLOS:
            expr = unified_expr(by_name[slo], window=window, by=APP_LABELS, suffix="_bucket")
            rules.append(_record(buckets, expr, {"slo": slo}))
        good = f"sum by (namespace, application, slo) ({buckets} and on (namespace, application, slo, le) {objective})"
        total = f'sum by (namespace, application, slo) ({buckets}{{le="+Inf"}})'
        errors = f"arks_application:arks_slo_error_ratio:rate{window}"
        rules.append(_record(errors, f"1 - ({good} / on (namespace, application, slo) ({total} > 0))"))
        budget = "(1 - max by (namespace, application, slo) (arks_application_slo_objective_ratio))"
        burn = f"{errors} / on (namespace, application, slo) {budget}"
        rules.append(_record(f"arks_application:arks_slo_burn_rate:rate{window}", burn))
    return rules


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def slo_alerts() -> list[dict[str, Any]]:
    burn = "arks_application:arks_slo_burn_rate:rate"
    app = "{{ $labels.namespace }}/{{ $labels.application }}"
    return [
        _alert(
            "ArksSLOBurnFast",
            f"{burn}5m > 2 and {burn}30m > 2",
            "2m",
            "critical",
            f"{app}: {{{{ $labels.slo }}}} SLO error budget burning fast",
            "Over the last 5 and 30 minutes more than twice the allowed share of requests were slower than the "
            'target (burn rate {{ $value | printf "%.1f" }}). Check replicas, the queue and the autoscaling '
            "decisions on the Arks serving dashboard.",
        ),
        _alert(
            "ArksSLOBurnSlow",
            f"{burn}30m > 1 and {burn}2h > 1",
            "15m",
            "warning",
            f"{app}: {{{{ $labels.slo }}}} SLO error budget spent faster than it accrues",
            "Over the last 30 minutes and 2 hours more requests than the objective allows were slower than the "
            'target (burn rate {{ $value | printf "%.2f" }}).',
        ),
        _alert(
            "ArksSLOUnmeasurable",
            "max by (namespace, application, slo, le) (arks_application_slo_objective_ratio)"
            " unless on (namespace, application, slo, le) arks_application:arks_slo_latency_bucket:rate30m",
            "15m",
            "warning",
            f"{app}: the {{{{ $labels.slo }}}} SLO cannot be measured",
            "No latency bucket of the runtime has the edge le={{ $labels.le }} s (the SLO target), or the runtime "
            "is not scraped: the burn-rate alerts cannot fire for this application. Put the target on a bucket "
            "edge of the runtime (docs/observability.md) and check the runtime pods are scraped.",
        ),
    ]


def control_plane_alerts() -> list[dict[str, Any]]:
    alerts = [
        _alert(
            "ArksServiceDown",
            f"up{{{SERVICE_JOBS}}} == 0",
            "5m",
            "critical",
            "Arks {{ $labels.job }} is down ({{ $labels.instance }})",
            "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }} for 5 minutes.",
        ),
        _alert(
            "ArksConsumerStalled",
            "max by (job, consumer) (arks_consumer_pending_messages) > 0"
            " unless on (job, consumer) sum by (job, consumer) (rate(arks_messages_total[10m])) > 0",
            "10m",
            "warning",
            "Arks {{ $labels.job }} handles no messages of {{ $labels.consumer }} while some are pending",
            "The durable consumer {{ $labels.consumer }} has {{ $value }} pending messages and handled none in the "
            "last 10 minutes: the service is stalled (a blocked handler, lost NATS connection or lost leadership).",
        ),
        _alert(
            "ArksSLOScalerNoLeader",
            "max by (job) (arks_slo_scaler_leader) < 1",
            "5m",
            "warning",
            "No slo-scaler replica holds the lease",
            "No autoscaling decision is made while no replica leads; check the slo-scaler's Lease and logs.",
        ),
        _alert(
            "ArksDeadLettersGrowing",
            'sum by (job, consumer) (increase(arks_messages_total{result="dead_letter"}[15m])) > 0',
            "0m",
            "warning",
            "Arks {{ $labels.job }} dead-lettered messages of {{ $labels.consumer }}",
            '{{ $value | printf "%.0f" }} messages of {{ $labels.consumer }} went to the dead-letter stream in the '
            "last 15 minutes after their retries ran out; the service's log names each one.",
        ),
        _alert(
            "ArksReconcileErrors",
            "sum by (job, controller) (rate(arks_reconcile_errors_total[10m]))"
            " / sum by (job, controller) (rate(arks_reconcile_total[10m])) > 0.5",
            "15m",
            "warning",
            "Arks {{ $labels.controller }} reconciles mostly fail",
            "More than half of the reconciles of {{ $labels.controller }} ended in an error for 15 minutes.",
        ),
        _alert(
            "ArksModelDownloadFailing",
            'max by (namespace, model) (arks_model_status_phase{phase="Failed"}) == 1',
            "1m",
            "warning",
            "Model {{ $labels.namespace }}/{{ $labels.model }} failed to download",
            "The ArksModel is in phase Failed; `kubectl describe arksmodel` shows the downloader's message.",
        ),
    ]
    for service in ARKS_SERVICES:
        absent = _alert(
            "ArksServiceAbsent",
            f'absent(up{{job="arks-{service}"}})',
            "15m",
            "critical",
            f"Arks {service} is not scraped",
            f"No target of job arks-{service} for 15 minutes: the service is not running or not scraped "
            "(its chart's metrics.serviceMonitor.enabled, or the bare-Prometheus job in docs/observability.md).",
        )
        absent["labels"]["service"] = service  # one rule per service: `absent()` cannot say which is missing
        alerts.append(absent)
    return alerts


def rule_groups() -> dict[str, Any]:
    """The whole rules file (`groups:`), as `promtool check rules` and a PrometheusRule's spec take it."""
    return {
        "groups": [
            {"name": "arks-serving.records", "rules": serving_records()},
            {"name": "arks-slo.records", "rules": slo_records()},
            {"name": "arks-slo.alerts", "rules": slo_alerts()},
            {"name": "arks-control-plane.alerts", "rules": control_plane_alerts()},
            {"name": "arks-router.records", "rules": router_records()},
            {"name": "arks-router.alerts", "rules": router_alerts()},
        ]
    }
