"""The endpoint routers' metrics: how Prometheus finds the router pods of every ArksEndpoint, and the recording
rules that map smg's own series to Arks' unified names per endpoint (requests, errors, latency, requests per
backend application). Pure: builds dicts; `gen.py` writes them.

Series names and labels are smg 1.13.0's, read from its `/metrics` (the Prometheus port, `--prometheus-port`) after
routed, failed and unknown-model requests:

- `smg_router_requests_total{model,endpoint,streaming,router_type,backend_type,connection_mode}`: routed requests
  (`model="other"` for a model the router does not serve, `unknown` for a request that names none);
- `smg_router_request_errors_total{model,error_type,...}`: router errors (`no_workers` for an unknown model);
- `smg_http_responses_total{path,status_code,error_code}`: what the clients got, counted when sent in full;
- `smg_router_request_duration_seconds{model,...}`: a histogram of the routed request's duration (edges 1 ms .. 2 h);
- `smg_worker_requests_total{worker,model}`: requests sent to each backend (its URL, `http://<pod IP>:<port>`);
- `smg_worker_health{worker}`: 1 while the router counts the backend healthy.
"""

from __future__ import annotations

from typing import Any

from arks_common.conventions import LABEL_ENDPOINT
from arks_monitoring.scrape import pod_label_meta

ROUTER_JOB = "arks-router"
ROUTER_PORT = "metrics"
"""The router container's port name for smg's Prometheus exporter (the endpoint plan's Deployment)."""
ENDPOINT_LABEL = "arks_endpoint"
"""The series label naming the ArksEndpoint (pod label `arks.ai/endpoint`). Not `endpoint`: smg's series already
carry `endpoint` (the OpenAI route, e.g. `completions`) and the Prometheus Operator sets `endpoint` to the port."""
BY = f"namespace, {ENDPOINT_LABEL}"
WINDOW = "2m"
QUANTILES = ("0.5", "0.9", "0.99")
DURATION = "arks_router_request_duration_seconds"
WORKER_REQUESTS = f"arks_endpoint:arks_router_worker_requests:rate{WINDOW}"


def router_relabel_configs() -> list[dict[str, Any]]:
    """The plain job's relabeling: keep the router pods' `metrics` port, label the series with the endpoint."""
    present = pod_label_meta(LABEL_ENDPOINT).replace("_pod_label_", "_pod_labelpresent_", 1)
    return [
        {"source_labels": [present], "regex": "true", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": ROUTER_PORT, "action": "keep"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": [pod_label_meta(LABEL_ENDPOINT)], "target_label": ENDPOINT_LABEL},
    ]


def router_job() -> dict[str, Any]:
    """A `scrape_configs` entry for a Prometheus on Kubernetes without the operator."""
    return {
        "job_name": ROUTER_JOB,
        "kubernetes_sd_configs": [{"role": "pod"}],
        "metrics_path": "/metrics",
        "relabel_configs": router_relabel_configs(),
    }


def router_pod_monitor_endpoints() -> list[dict[str, Any]]:
    """The routers' PodMonitor `podMetricsEndpoints` (the operator adds namespace, pod and container itself)."""
    relabelings = [{"sourceLabels": [pod_label_meta(LABEL_ENDPOINT)], "targetLabel": ENDPOINT_LABEL}]
    return [{"port": ROUTER_PORT, "path": "/metrics", "relabelings": relabelings}]


def _record(name: str, expr: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": name, "expr": expr}
    if labels:
        rule["labels"] = labels
    return rule


def router_records() -> list[dict[str, Any]]:
    """Per endpoint (`namespace`, `arks_endpoint`), summed over its router replicas."""
    rules = [
        _record(
            f"arks_endpoint:arks_router_requests:rate{WINDOW}",
            f"sum by ({BY}, model) (rate(smg_router_requests_total[{WINDOW}]))",
        ),
        _record(
            f"arks_endpoint:arks_router_request_errors:rate{WINDOW}",
            f"sum by ({BY}, model, error_type) (rate(smg_router_request_errors_total[{WINDOW}]))",
        ),
        # the clients' side: OpenAI routes only (not probes or the admin routes)
        _record(
            f"arks_endpoint:arks_router_responses:rate{WINDOW}",
            f'sum by ({BY}, status_code) (rate(smg_http_responses_total{{path=~"/v1/.+"}}[{WINDOW}]))',
        ),
    ]
    for suffix in ("_bucket", "_sum", "_count"):
        labels = f"{BY}, model, le" if suffix == "_bucket" else f"{BY}, model"
        expr = f"sum by ({labels}) (rate(smg_router_request_duration_seconds{suffix}[{WINDOW}]))"
        rules.append(_record(f"arks_endpoint:{DURATION}{suffix}:rate{WINDOW}", expr))
    for q in QUANTILES:
        expr = f"histogram_quantile({q}, arks_endpoint:{DURATION}_bucket:rate{WINDOW})"
        rules.append(_record(f"arks_endpoint:{DURATION}:quantile_rate{WINDOW}", expr, {"quantile": q}))
    rules.append(_record(WORKER_REQUESTS, f"sum by ({BY}, model, worker) (rate(smg_worker_requests_total[{WINDOW}]))"))
    # A backend's URL is its pod's address, which is the runtime pod's scrape target (`instance`) on the same port:
    # joined with that target, requests per backend carry the application and replica group (not for a backend
    # whose runtime pod is not scraped; the per-worker series above still has it).
    instance = f'label_replace({WORKER_REQUESTS}, "instance", "$1", "worker", "[a-z]+://([^/]+).*")'
    runtime_targets = 'group by (namespace, instance, application, group) (up{application!=""})'
    rules.append(
        _record(
            f"arks_endpoint:arks_router_application_requests:rate{WINDOW}",
            f"sum by ({BY}, model, application, group) "
            f"({instance} * on (namespace, instance) group_left (application, group) {runtime_targets})",
        )
    )
    rules.append(
        _record(
            "arks_endpoint:arks_router_backends_healthy",
            f"sum by ({BY}) (max by ({BY}, worker) (smg_worker_health))",
        )
    )
    return rules


def router_alerts() -> list[dict[str, Any]]:
    responses = f"arks_endpoint:arks_router_responses:rate{WINDOW}"
    where = "{{ $labels.namespace }}/{{ $labels.arks_endpoint }}"
    return [
        {
            "alert": "ArksEndpointServerErrors",
            "expr": f'sum by ({BY}) ({responses}{{status_code=~"5.."}}) / sum by ({BY}) ({responses}) > 0.05',
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"Endpoint {where}: more than 5% of requests fail with a server error",
                "description": "{{ $value | humanizePercentage }} of the OpenAI requests to the endpoint got a 5xx "
                "for 10 minutes: no ready backend (`kubectl get arkep` shows READY), backends failing, or the "
                "router's circuit breakers open (smg_worker_cb_state).",
            },
        },
        {
            "alert": "ArksEndpointNoHealthyBackend",
            "expr": "arks_endpoint:arks_router_backends_healthy == 0",
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": f"Endpoint {where} has no healthy backend",
                "description": "The endpoint's router counts none of its backends healthy for 5 minutes: every "
                "request fails. Check the applications behind it (`kubectl get arkep`, `kubectl get arksapp`).",
            },
        },
    ]
