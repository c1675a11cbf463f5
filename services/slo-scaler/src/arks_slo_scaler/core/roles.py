"""Which roles of an application the slo-scaler scales, and what each role is judged on. Pure.

An aggregated application has one scaled role, `serve`, under `spec.autoscaling`; its decision lives in
`status.autoscaling`. PD-separated serving (docs/pd.md) scales `prefill` and `decode` apart, each under its own
`spec.<role>.autoscaling` (its own min/max, SLO and behavior), with its decision in `status.autoscaling.<role>`.
The router is never scaled by the SLO.

Every role goes through the same decision (`decide.decide`), called with that role's spec and that role's
signals, which is why this module only *filters* a role's scrapes:
- prefill is judged on TTFT and its waiting queue: a prefill server's KV cache holds only prompts on their way
  to a decode server, so its usage says nothing about the capacity the role lacks, and is left out;
- decode is judged on inter-token latency, KV-cache usage and its waiting queue. A request waits there for a seat
  in the running batch (vLLM `--max-num-seqs`, SGLang `--max-running-requests`), which a decode server runs out of
  before its inter-token latency grows or its KV cache fills (the PD benchmark's decode group holds 182 of its 256
  seats at 55% KV usage at 50 req/s; at 55 req/s requests queue for seats). On vLLM a request also waits there
  for its KV cache to arrive (`num_waiting_reqs` is the whole waiting queue, `WAITING_FOR_REMOTE_KVS` included:
  vllm v1 `core/sched/scheduler.py` `make_stats`): with a slow KV link those alone can pass the queue threshold
  (8 per group: at 50 req/s per group, transfers of 160 ms) and grow decode with seats to spare; the PD profiles
  assume NIXL over RDMA, where a transfer takes milliseconds (docs/pd.md). Its TTFT histogram stays:
  the decision counts the requests a group started from it, and the role's spec has no TTFT target, so it is
  never judged on it.

Each PD role's decision differs in one setting (`role_config`):
- decode: its ITL stays flat until its seats run out, and its queue builds only past that cliff, so a group asked
  for on the queue comes a cold start too late. Its forecast is the only early signal, and a rise the points
  support undoes a recent scale-down (`ScalerConfig.supported_rise_undoes_scale_down`); prefill's TTFT and an
  aggregated group's grow before their capacity ends, and a breach acts in time.
- prefill: its TTFT is a prompt's compute time until the groups' compute runs out, then queueing: flat, then a knee
  (behind the router's least-requests choice, flat up to about three quarters of what the groups break at). Without
  a prior its exploring capacity guesses from the flat part up to twice the rate served, and the first windows in
  which the TTFT rises are the knee itself: a lower guess from them replaces the smoothed one at once
  (`ScalerConfig.guess_falls_at_once`), where smoothing kept the guess above the knee while a ramp walked into it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from arks_common.api.application import ArksApplicationSpec, AutoscalingSpec, DynamoBackend, Runtime
from arks_common.conventions import ROLE_DECODE, ROLE_PREFILL, ROLE_SERVE
from arks_slo_scaler.core.decide import ScalerConfig
from arks_slo_scaler.core.metrics import MetricsSnapshot, UnifiedMetric

__all__ = ["ScaledRole", "engine_runtime", "role_config", "role_signals", "scaled_roles"]


@dataclass(frozen=True)
class ScaledRole:
    """One role to decide for: its name, its autoscaling spec, its groups now (from the spec) and group size."""

    name: str
    spec: AutoscalingSpec
    spec_replicas: int
    nodes_per_group: int

    @property
    def status_key(self) -> str | None:
        """Where its decision goes under `status.autoscaling`: None for `serve` (the top level), else the role."""
        return None if self.name == ROLE_SERVE else self.name


def scaled_roles(spec: ArksApplicationSpec) -> list[ScaledRole]:
    """The roles with autoscaling on, in a fixed order (serve; or prefill, then decode)."""
    if spec.disaggregated():
        roles = []
        for name, part in ((ROLE_PREFILL, spec.prefill), (ROLE_DECODE, spec.decode)):
            if part is not None and part.autoscaling is not None:
                roles.append(ScaledRole(name, part.autoscaling, part.replicas, part.instance_spec.replicas))
        return roles
    if spec.autoscaling is None:
        return []
    return [ScaledRole(ROLE_SERVE, spec.autoscaling, spec.replicas, spec.instance_spec.replicas)]


def role_signals(role: str, snapshot: MetricsSnapshot) -> MetricsSnapshot:
    """A group's scrape reduced to what its role is scaled on (see the module's docstring)."""
    if role == ROLE_PREFILL:
        refused = snapshot.refused - {UnifiedMetric.INTER_TOKEN_LATENCY_SECONDS}
        return replace(snapshot, inter_token_latency=None, kv_cache_usage=None, refused=refused)
    return snapshot  # decode keeps every signal; serve too


def role_config(role: str, config: ScalerConfig) -> ScalerConfig:
    """The decision's settings for a role (see the module's docstring): decode acts on a rise its points support
    even just after a scale-down; prefill's exploring guess falls at once to what its TTFT's knee shows; `serve` as
    configured."""
    if role == ROLE_DECODE:
        return replace(config, supported_rise_undoes_scale_down=True)
    if role == ROLE_PREFILL:
        return replace(config, guess_falls_at_once=True)
    return config


def engine_runtime(spec: ArksApplicationSpec, role: str) -> Runtime:
    """Whose metric names a role's leader prints. A Dynamo prefill or decode worker has no frontend: its system
    status server (DYN_SYSTEM_PORT) passes its engine's own metrics through, so it is read as that engine: vLLM's
    `vllm:*` (ai-dynamo `docs/backends/vllm/prometheus.md`, 1.6 line) or SGLang's `sglang:*` (ai-dynamo 1.6.1
    `sglang/publisher.py` setup_prometheus_registry, with the --enable-metrics the profile passes). Everything
    else, the aggregated Dynamo leader included (its frontend's `dynamo_frontend_*`), as its runtime."""
    if spec.runtime is Runtime.DYNAMO and role in (ROLE_PREFILL, ROLE_DECODE):
        return Runtime.SGLANG if spec.backend() == DynamoBackend.SGLANG else Runtime.VLLM
    return spec.runtime
