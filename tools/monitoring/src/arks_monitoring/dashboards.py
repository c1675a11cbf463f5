"""The two Grafana dashboards as code (grafana-foundation-sdk): serving (per application) and the control plane.

Panels are described as data first (`PANELS_*`: title, unit, queries with their legends), then built with the SDK;
the end-to-end test runs every query of the generated JSON against a real Prometheus. A legend's `{{label}}`
placeholders are the labels its query promises. Pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders import timeseries as gts
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh, VariableSort

from arks_monitoring.rules import RATE_WINDOW, SERVICE_JOB_REGEX, SERVICE_JOBS

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
APP = 'namespace="$namespace",application="$application"'
RI = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str = ""


@dataclass(frozen=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


def _latency(name: str, slo: str, title: str) -> PanelSpec:
    return PanelSpec(
        title,
        "s",
        (
            Query(f"arks_application:{name}:quantile_rate{RATE_WINDOW}{{{APP}}}", "p{{quantile}} {{runtime}} {{role}}"),
            Query(f"arks_application:{name}:mean_rate{RATE_WINDOW}{{{APP}}}", "mean {{runtime}} {{role}}"),
            Query(
                f'max by (namespace, application, slo) (arks_application_slo_target_seconds{{{APP},slo="{slo}"}})',
                "SLO target {{slo}}",
            ),
        ),
        f"Percentiles over {RATE_WINDOW} of the unified histogram across the application's groups, and the SLO's "
        "target (autoscaled applications).",
    )


SERVING = (
    RowSpec(
        "Latency against the SLO",
        (
            _latency("arks_time_to_first_token_seconds", "time_to_first_token", "Time to first token"),
            _latency("arks_inter_token_latency_seconds", "inter_token_latency", "Inter-token latency"),
            PanelSpec(
                "SLO error-budget burn rate",
                "none",
                tuple(
                    Query(f"arks_application:arks_slo_burn_rate:rate{w}{{{APP}}}", f"{{{{slo}}}} {w}")
                    for w in ("5m", "30m")
                ),
                "Share of requests slower than the target divided by the share the objective allows; above 1 the "
                "budget shrinks (alerts ArksSLOBurnFast/Slow).",
            ),
        ),
    ),
    RowSpec(
        "Throughput",
        (
            PanelSpec(
                "Requests per second",
                "reqps",
                (
                    Query(
                        "sum by (group) "
                        f"(arks_group:arks_time_to_first_token_seconds_count:rate{RATE_WINDOW}{{{APP}}})",
                        "group {{group}}",
                    ),
                ),
                "First tokens per second (requests that started generating) per replica group.",
            ),
            PanelSpec(
                "Tokens per second",
                "short",
                (
                    Query(f"sum by (runtime) (arks_group:arks_prompt_tokens:rate{RATE_WINDOW}{{{APP}}})", "prompt"),
                    Query(
                        f"sum by (runtime) (arks_group:arks_generation_tokens:rate{RATE_WINDOW}{{{APP}}})", "generated"
                    ),
                ),
            ),
        ),
    ),
    RowSpec(
        "Queue and KV cache",
        (
            PanelSpec(
                "Requests running and waiting",
                "short",
                (
                    Query(f"arks_group:arks_requests_running{{{APP}}}", "running group {{group}}"),
                    Query(f"arks_group:arks_requests_waiting{{{APP}}}", "waiting group {{group}}"),
                ),
            ),
            PanelSpec(
                "KV-cache usage",
                "percentunit",
                (Query(f"arks_group:arks_kv_cache_usage_ratio{{{APP}}}", "group {{group}}"),),
                "The fullest engine of each group, 0..1.",
            ),
        ),
    ),
    RowSpec(
        "Replicas and autoscaling",
        (
            PanelSpec(
                "Replica groups",
                "short",
                tuple(
                    Query(f"max by (namespace, application) (arks_application_replicas_{k}{{{APP}}})", k)
                    for k in ("desired", "current", "ready")
                ),
                "Desired: the slo-scaler's last decision; current: the LeaderWorkerSet's size; ready: Ready leaders.",
            ),
            PanelSpec(
                "Autoscaling decisions",
                "short",
                (
                    Query(
                        f"sum by (direction, reason) (increase(arks_slo_scaler_decisions_total{{{APP}}}[{RI}]))",
                        "{{direction}} {{reason}}",
                    ),
                ),
                "Decisions per interval by direction and reason (Hold included): why the replicas moved.",
            ),
        ),
    ),
)

JOB = 'job=~"$job"'

CONTROL_PLANE = (
    RowSpec(
        "Services",
        (
            PanelSpec("Targets up", "short", (Query(f"up{{{JOB}}}", "{{job}} {{instance}}"),)),
            PanelSpec(
                "Models by phase",
                "short",
                (Query("sum by (phase) (arks_model_status_phase)", "{{phase}}"),),
                "ArksModels per phase, from the model-loader (Failed fires ArksModelDownloadFailing).",
            ),
            PanelSpec(
                "slo-scaler leader",
                "short",
                (Query(f"max by (job, instance) (arks_slo_scaler_leader{{{JOB}}})", "{{instance}}"),),
            ),
        ),
    ),
    RowSpec(
        "Reconciles",
        (
            PanelSpec(
                "Reconciles per second",
                "ops",
                (
                    Query(
                        f"sum by (job, controller, result) (rate(arks_reconcile_total{{{JOB}}}[{RI}]))",
                        "{{controller}} {{result}}",
                    ),
                ),
            ),
            PanelSpec(
                "Reconcile errors per second",
                "ops",
                (
                    Query(
                        f"sum by (job, controller) (rate(arks_reconcile_errors_total{{{JOB}}}[{RI}]))",
                        "{{controller}}",
                    ),
                ),
            ),
            PanelSpec(
                "Reconcile duration",
                "s",
                tuple(
                    Query(
                        f"histogram_quantile({q}, sum by (job, controller, le) "
                        f"(rate(arks_reconcile_time_seconds_bucket{{{JOB}}}[{RI}])))",
                        f"p{int(float(q) * 100)} {{{{controller}}}}",
                    )
                    for q in ("0.5", "0.99")
                ),
            ),
        ),
    ),
    RowSpec(
        "Bus",
        (
            PanelSpec(
                "Messages handled per second",
                "ops",
                (
                    Query(
                        f"sum by (job, consumer, result) (rate(arks_messages_total{{{JOB}}}[{RI}]))",
                        "{{consumer}} {{result}}",
                    ),
                ),
            ),
            PanelSpec(
                "Message handling duration",
                "s",
                tuple(
                    Query(
                        f"histogram_quantile({q}, sum by (job, consumer, le) "
                        f"(rate(arks_message_handling_seconds_bucket{{{JOB}}}[{RI}])))",
                        f"p{int(float(q) * 100)} {{{{consumer}}}}",
                    )
                    for q in ("0.5", "0.99")
                ),
            ),
            PanelSpec(
                "Queue depth (pending messages)",
                "short",
                (Query(f"max by (job, consumer) (arks_consumer_pending_messages{{{JOB}}})", "{{consumer}}"),),
            ),
            PanelSpec(
                "Redeliveries per second",
                "ops",
                (
                    Query(
                        f"sum by (job, consumer) (rate(arks_message_redeliveries_total{{{JOB}}}[{RI}]))",
                        "{{consumer}}",
                    ),
                ),
            ),
            PanelSpec(
                "Dead letters",
                "short",
                (
                    Query(
                        f'sum by (job, consumer) (increase(arks_messages_total{{{JOB},result="dead_letter"}}[{RI}]))',
                        "{{consumer}}",
                    ),
                ),
                "Messages dead-lettered per interval after their retries ran out (alert ArksDeadLettersGrowing).",
            ),
            PanelSpec(
                "Events published per second",
                "ops",
                (
                    Query(
                        f"sum by (job, channel) (rate(arks_events_published_total{{{JOB}}}[{RI}]))",
                        "{{job}} {{channel}}",
                    ),
                ),
            ),
        ),
    ),
)


def _panel(spec: PanelSpec, panel_id: int, width: int) -> gts.Panel:
    panel = gts.Panel().id(panel_id).title(spec.title).unit(spec.unit).datasource(DATASOURCE).height(8).span(width)
    if spec.description:
        panel = panel.description(spec.description)
    for i, q in enumerate(spec.queries):
        panel = panel.with_target(gp.Dataquery().expr(q.expr).legend_format(q.legend).ref_id(chr(ord("A") + i)))
    return panel


def _query_variable(name: str, label: str, query: str, *, include_all: str | None = None) -> gd.QueryVariable:
    var = (
        gd.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(DATASOURCE)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if include_all is not None:
        var = var.include_all(True).all_value(include_all).multi(True)
    return var


def serving() -> dict[str, Any]:
    board = (
        gd.Dashboard("Arks / Serving")
        .uid("arks-serving")
        .description("One application's latency against its SLO, throughput, queue, KV cache, replicas and decisions.")
        .tags(["arks"])
        .time("now-1h", "now")
        .refresh("30s")
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            _query_variable("namespace", "Namespace", "label_values(arks_group:arks_requests_running, namespace)")
        )
        .with_variable(
            _query_variable(
                "application",
                "Application",
                'label_values(arks_group:arks_requests_running{namespace="$namespace"}, application)',
            )
        )
    )
    return _build(board, SERVING)


def control_plane() -> dict[str, Any]:
    board = (
        gd.Dashboard("Arks / Control plane")
        .uid("arks-control-plane")
        .description("Arks' own services: reconciles, errors, durations, bus queue depth, redeliveries, dead letters.")
        .tags(["arks"])
        .time("now-1h", "now")
        .refresh("30s")
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            _query_variable("job", "Service", f"label_values(up{{{SERVICE_JOBS}}}, job)", include_all=SERVICE_JOB_REGEX)
        )
    )
    return _build(board, CONTROL_PLANE)


def _build(board: gd.Dashboard, rows: tuple[RowSpec, ...]) -> dict[str, Any]:
    panel_id = 0
    for row in rows:
        panel_id += 1
        board = board.with_row(gd.Row(row.title).id(panel_id))
        width = 24 // len(row.panels) if len(row.panels) <= 3 else 8
        for spec in row.panels:
            panel_id += 1
            board = board.with_panel(_panel(spec, panel_id, width))
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return built


def all_dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON."""
    return {"arks-serving.json": serving(), "arks-control-plane.json": control_plane()}
