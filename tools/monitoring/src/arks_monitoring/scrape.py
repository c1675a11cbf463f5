"""How Prometheus finds the runtime pods and the Arks services: a PodMonitor for the Prometheus Operator, and the
same relabeling as plain `scrape_configs` jobs for a Prometheus without the operator. Pure.

Runtime pods are the LeaderWorkerSet pods the planner renders (`arks_planner.core.plan`): the leader's container
port `http` serves the runtime's `/metrics` (vLLM, SGLang, Dynamo's frontend); a port named `metrics` serves more
(Dynamo's engine system status server, `DYN_SYSTEM_PORT`, 9090 in the default profile, on leaders and workers) or
the only metrics of a pod whose serving port has none (the SGLang PD router's `--prometheus-port`, 29000; its
serving port is named `api` there, so it is not scraped).
"""

from __future__ import annotations

from typing import Any

from arks_common.conventions import LABEL_APPLICATION, LABEL_COMPONENT

GROUP_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
RUNTIME_PORTS = ("http", "metrics")
RUNTIME_JOB = "arks-runtime"
SERVICES_JOB = "arks-services"
SERVICE_PORT = "http-metrics"  # the port name of every Arks service's metrics Service (deploy/charts/*/service.yaml)


def pod_label_meta(pod_label: str) -> str:
    """Kubernetes service discovery's name for a pod label (non-alphanumerics become `_`)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in pod_label)


# Pod labels -> series labels, shared by the PodMonitor and the plain job (Prometheus' own spelling).
POD_LABELS = {LABEL_APPLICATION: "application", LABEL_COMPONENT: "role", GROUP_INDEX_LABEL: "group"}


def runtime_relabel_configs() -> list[dict[str, Any]]:
    """The plain job's relabeling: keep Arks application pods' `http`/`metrics` ports, label them as Arks does."""
    present = pod_label_meta(LABEL_APPLICATION).replace("_pod_label_", "_pod_labelpresent_", 1)
    rules: list[dict[str, Any]] = [
        {"source_labels": [present], "regex": "true", "action": "keep"},
        {
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "regex": "|".join(RUNTIME_PORTS),
            "action": "keep",
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        # the port's name, as the operator's `endpoint` label: a pod's two targets stay apart however it is reached
        {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "target_label": "endpoint"},
    ]
    rules += [{"source_labels": [pod_label_meta(k)], "target_label": v} for k, v in POD_LABELS.items()]
    return rules


def runtime_job() -> dict[str, Any]:
    """A `scrape_configs` entry for a Prometheus on Kubernetes without the operator."""
    return {
        "job_name": RUNTIME_JOB,
        "kubernetes_sd_configs": [{"role": "pod"}],
        "metrics_path": "/metrics",
        "relabel_configs": runtime_relabel_configs(),
    }


def services_job() -> dict[str, Any]:
    """The Arks services' metrics Services, as each chart's ServiceMonitor scrapes them: job = the Service's
    `app.kubernetes.io/name` (`arks-<service>`, the chart's full name)."""
    return {
        "job_name": SERVICES_JOB,
        "kubernetes_sd_configs": [{"role": "endpoints"}],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_part_of"],
                "regex": "arks",
                "action": "keep",
            },
            {"source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": SERVICE_PORT, "action": "keep"},
            {"source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name"], "target_label": "job"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


def scrape_configs(*more_jobs: dict[str, Any]) -> dict[str, Any]:
    """The runtime and services jobs, and `more_jobs` (the routers', from router.py)."""
    return {"scrape_configs": [runtime_job(), services_job(), *more_jobs]}


def pod_monitor_endpoints() -> list[dict[str, Any]]:
    """The PodMonitor's `podMetricsEndpoints` (the operator adds namespace, pod and container itself)."""
    relabelings = [{"sourceLabels": [pod_label_meta(k)], "targetLabel": v} for k, v in POD_LABELS.items()]
    return [{"port": port, "path": "/metrics", "relabelings": relabelings} for port in RUNTIME_PORTS]
