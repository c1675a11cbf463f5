"""Observability end to end on a real Prometheus (Debian's package): three autoscaled applications, one per runtime
(vLLM, SGLang, Dynamo), each leader pod served by a runtime emulator speaking that runtime's `/metrics`; Prometheus
scrapes them with the relabeling the monitoring chart ships for a Prometheus without the operator, scrapes the Arks
services, and evaluates the chart's rules. After load, every query of every panel of both shipped dashboards returns
series with the labels its legend names, and the unified TTFT and ITL are what the emulators served.

Pods run on KWOK fake GPU nodes (no container, no reachable IP), so a thread gives each leader pod an emulator
group: its targets carry the pod's real labels as the Kubernetes discovery would (`__meta_kubernetes_*`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from arks_common.api.application import Runtime
from arks_slo_scaler.core.metrics import Histogram, histogram_quantile, merge_histograms, parse_metrics
from support.builders import rwx_model, small_app
from support.e2e import Env, wait_until
from support.emulator import Emulator, GroupMap, LoadGenerator, write_lines
from support.prometheus import PrometheusServer, Target, slo_scaler_reading
from support.repeating import Repeating

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/charts/arks-monitoring"
SERVICES = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")
EMULATOR_ARGS = ("--slowdown", "5", "--max-num-seqs", "8")
RPS, DURATION, PROMPT_TOKENS, OUTPUT_TOKENS = 3.0, 15, 256, 32
# SLO targets on each runtime's own bucket edges (vLLM 0.5/0.1 s, SGLang 0.4/0.1 s, Dynamo "1"/0.16 s)
APPS = {
    Runtime.VLLM: ("obs-vllm", 500, 100),
    Runtime.SGLANG: ("obs-sglang", 400, 100),
    Runtime.DYNAMO: ("obs-dynamo", 1000, 160),
}
MODEL = "llama-3.1-8b"  # what the emulator labels its series with


def _app(runtime: Runtime) -> dict[str, Any]:
    name, ttft_ms, itl_ms = APPS[runtime]
    app = small_app(
        name,
        runtime=runtime.value,
        autoscaling={
            "minReplicas": 1,
            "maxReplicas": 2,
            "slo": {
                "timeToFirstToken": {"targetMilliseconds": ttft_ms, "percentile": 90},
                "interTokenLatency": {"targetMilliseconds": itl_ms, "percentile": 90},
            },
            # decisions are made and exported, but no group is added under the short load: a group that joins
            # mid-load starts its rates from its first scrape, and the window no longer sums what was served
            "behavior": {"scaleUpStabilizationSeconds": 600, "scaleDownStabilizationSeconds": 600, "warmupSeconds": 2},
        },
    )
    if runtime is Runtime.DYNAMO:  # Dynamo needs its discovery named (the planner's precheck)
        app["spec"]["instanceSpec"]["env"] = [
            {"name": "ETCD_ENDPOINTS", "value": "http://etcd:2379"},
            {"name": "NATS_SERVER", "value": "nats://nats:4222"},
        ]
    return app


def _shipped_runtime_relabeling() -> list[dict[str, Any]]:
    doc = yaml.safe_load((CHART / "files/scrape-configs.yaml").read_text())
    job = next(j for j in doc["scrape_configs"] if j["job_name"] == "arks-runtime")
    relabel: list[dict[str, Any]] = job["relabel_configs"]
    return relabel


def _meta_label(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


class RuntimeSync(Repeating):
    """Keeps Prometheus' targets (every leader pod, with its real labels as discovery metadata; Dynamo's `metrics`
    port too) and each application's load targets (its Ready leaders' groups) in step with the cluster."""

    def __init__(self, arks: Env, ns: str, prometheus: PrometheusServer, emulators: dict[Runtime, Emulator]) -> None:
        super().__init__("runtime sync")
        self._arks, self._ns, self._prometheus = arks, ns, prometheus
        self.emulators = emulators
        self.groups = {runtime: GroupMap(emu) for runtime, emu in emulators.items()}
        self.load_files = {runtime: prometheus.workdir / f"load-{runtime.value}.txt" for runtime in emulators}
        self.assigned: dict[Runtime, set[int]] = {runtime: set() for runtime in emulators}
        for path in self.load_files.values():
            write_lines(path, [])
        self._last: object = None

    def step(self) -> None:
        targets: list[Target] = []
        loads: dict[Runtime, list[str]] = {}
        for runtime, (name, _, _) in APPS.items():
            pods = self._arks.items("pods", self._ns, f"arks.ai/application={name},arks.ai/work-load-role=leader")
            _, urls = self.groups[runtime].sync(self._ns, pods)
            loads[runtime] = urls
            for pod in pods:
                group = self.groups[runtime].group_of(pod["metadata"]["uid"])
                if group is None:
                    continue
                self.assigned[runtime].add(group)
                targets += self._targets(runtime, pod, group)
        now = (targets, loads)
        if now != self._last:
            self._prometheus.set_targets(targets)
            for runtime, urls in loads.items():
                write_lines(self.load_files[runtime], urls)
            self._last = now

    def _targets(self, runtime: Runtime, pod: dict[str, Any], group: int) -> list[Target]:
        emulator = self.emulators[runtime]
        base = emulator.target(group, self._ns, pod["metadata"]["name"])
        labels = pod["metadata"].get("labels") or {}
        meta = {
            "__meta_kubernetes_namespace": self._ns,
            "__meta_kubernetes_pod_name": pod["metadata"]["name"],
            "__meta_kubernetes_pod_container_name": "main",
            **{f"__meta_kubernetes_pod_label_{_meta_label(k)}": v for k, v in labels.items()},
            **{f"__meta_kubernetes_pod_labelpresent_{_meta_label(k)}": "true" for k in labels},
        }
        ports = [("http", base.metrics_path)]
        if runtime is Runtime.DYNAMO:  # the engine's system status server, the pod's `metrics` port
            ports.append(("metrics", f"/groups/{group}/system/metrics"))
        return [
            Target(
                base.address,
                path,
                self._ns,
                pod["metadata"]["name"],
                tuple(sorted({**meta, "__meta_kubernetes_pod_container_port_name": port}.items())),
            )
            for port, path in ports
        ]


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[dict[Runtime, Emulator]]:
    started: dict[Runtime, Emulator] = {}
    try:
        for runtime in APPS:
            emu = Emulator(tmp_path / f"emulator-{runtime.value}", 4, (*EMULATOR_ARGS, "--runtime", runtime.value))
            emu.start()
            started[runtime] = emu
        yield started
    finally:
        for emu in started.values():
            emu.stop()


@pytest.fixture
def prometheus(arks: Env, tmp_path: Path) -> Iterator[PrometheusServer]:
    """Prometheus with the chart's rules and runtime relabeling, scraping the Arks services as `arks-<service>`."""
    jobs = [
        {"job_name": f"arks-{s}", "static_configs": [{"targets": [f"127.0.0.1:{arks.system[s].port}"]}]}
        for s in SERVICES
    ]
    server = PrometheusServer(
        tmp_path / "prometheus",
        "1s",
        relabel_configs=_shipped_runtime_relabeling(),
        rule_files=[CHART / "files/arks-rules.yaml"],
        extra_jobs=jobs,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def scaler_on_prometheus(arks: Env, prometheus: PrometheusServer) -> Iterator[None]:
    with slo_scaler_reading(arks.system["slo-scaler"], prometheus.url):
        yield


def _queries(board: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, expr, legend) of every query of every panel."""
    return [
        (panel["title"], target["expr"], target.get("legendFormat", ""))
        for panel in board["panels"]
        if panel.get("type") != "row"
        for target in panel.get("targets", [])
    ]


def _substitute(expr: str, variables: dict[str, str]) -> str:
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(f"${name}", variables[name])
    assert "$" not in expr.replace("$1", ""), f"a Grafana variable is left in {expr}"
    return expr


def _missing(prometheus: PrometheusServer, expr: str, legend: str) -> str | None:
    """Why the query does not (yet) answer as its panel needs, or None when it does."""
    result = prometheus.query(expr)
    if not result:
        return f"no series for {expr}"
    wanted = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
    for series in result:
        absent = {label for label in wanted if not series["metric"].get(label)}
        if absent:
            return f"series {series['metric']} of {expr} lacks {sorted(absent)}"
    return None


def _served(emulator: Emulator, groups: set[int], runtime: Runtime) -> tuple[Histogram, Histogram]:
    """The TTFT and ITL histograms the emulator served for these groups, parsed from its own `/metrics`."""
    snapshots = [parse_metrics(emulator.metrics(g), runtime) for g in sorted(groups)]
    assert all(s.problems == () for s in snapshots), [s.problems for s in snapshots]
    ttft = merge_histograms(s.snapshot.time_to_first_token for s in snapshots)
    itl = merge_histograms(s.snapshot.inter_token_latency for s in snapshots)
    assert ttft is not None
    assert itl is not None
    return ttft, itl


def _at_or_under(histogram: Histogram, seconds: float) -> float:
    """Observations at or under `seconds`, which must be one of the histogram's edges."""
    counts = [count for edge, count in histogram.buckets if math.isclose(edge, seconds)]
    assert counts, f"{seconds} s is not a bucket edge of {histogram.edges}"
    return counts[0]


def _one_value(prometheus: PrometheusServer, expr: str) -> tuple[float, dict[str, str]]:
    result = prometheus.query(expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1]), result[0]["metric"]


@pytest.mark.timeout(480)
def test_dashboards_answer_and_unified_latency_is_what_the_runtimes_served(
    arks: Env,
    ns: str,
    prometheus: PrometheusServer,
    emulators: dict[Runtime, Emulator],
    scaler_on_prometheus: None,
) -> None:
    arks.ready_model(ns, rwx_model())
    for runtime in APPS:
        arks.apply(ns, _app(runtime))
    for name, _, _ in APPS.values():
        arks.wait_phase(name, ns, "Running")
    sync = RuntimeSync(arks, ns, prometheus, emulators)
    sync.start()
    loads = {rt: LoadGenerator(prometheus.workdir, sync.load_files[rt], rt.value) for rt in APPS}
    try:
        # every runtime target scraped (its zero counters are the start of the rates) and every service up
        seen: list[object] = []

        def all_up() -> bool:
            runtime_up = prometheus.query('up{job="arks-runtime"} == 1')
            services = prometheus.query('up{job=~"arks-(watcher|planner|deployer|model-loader|slo-scaler)"}')
            ready = {rt.value: bool(Path(f).read_text().strip()) for rt, f in sync.load_files.items()}
            up = {s["metric"]["job"]: s["value"][1] for s in services}
            seen[:] = [len(runtime_up), up, ready]
            return (
                len(runtime_up) >= len(APPS) + 1
                and list(up.values()).count("1") == len(SERVICES)
                and all(ready.values())
            )

        try:
            wait_until(all_up, 60, "every runtime target and Arks service scraped, every application's leader Ready")
        except AssertionError as exc:
            raise AssertionError(f"runtime targets up, services' up, load targets: {seen}") from exc
        for seed, load in enumerate(loads.values()):
            load.start(RPS, duration=DURATION, prompt_tokens=PROMPT_TOKENS, max_tokens=OUTPUT_TOKENS, seed=seed)
        reports = {rt: load.wait(DURATION + 60) for rt, load in loads.items()}
        assert all(r.get("ok", 0) == r.get("sent", -1) > 0 for r in reports.values()), reports

        # --- the unified TTFT and ITL are what each emulator served (its own counters, parsed by the scaler's parser),
        # and so is each SLO's error ratio: the share of requests slower than the target, on the runtime's own edge.
        # Checked while the 2 m rate window still holds the whole load, once the rules have seen the last scrape.
        served = {rt: _served(emulators[rt], sync.assigned[rt], rt) for rt in APPS}
        for runtime in APPS:
            assert served[runtime][0].count >= reports[runtime]["ok"], (runtime, served[runtime][0].count, reports)
        compared: list[list[str]] = []

        def unified_is_served() -> bool:
            rows, wrong = [], []
            for runtime, (name, ttft_ms, itl_ms) in APPS.items():
                where = f'namespace="{ns}",application="{name}"'
                targets = {"time_to_first_token": ttft_ms / 1000, "inter_token_latency": itl_ms / 1000}
                for unified, histogram in zip(
                    ("time_to_first_token", "inter_token_latency"), served[runtime], strict=True
                ):
                    metric = f"arks_application:arks_{unified}_seconds"
                    ratio = f'arks_application:arks_slo_error_ratio:rate5m{{{where},slo="{unified}"}}'
                    try:
                        mean, labels = _one_value(prometheus, f"{metric}:mean_rate2m{{{where}}}")
                        p90, _ = _one_value(prometheus, f'{metric}:quantile_rate2m{{{where},quantile="0.9"}}')
                        errors, _ = _one_value(prometheus, ratio)
                    except AssertionError as missing:  # not recorded yet, or never: said at the deadline
                        wrong.append(f"{runtime.value} {unified}: {missing}")
                        continue
                    want_mean = histogram.sum / histogram.count
                    want_p90 = histogram_quantile(0.9, histogram) or math.nan
                    slow = 1 - _at_or_under(histogram, targets[unified]) / histogram.count
                    row = (
                        f"{runtime.value:7} {unified:20} mean {mean * 1000:7.1f} ms (served {want_mean * 1000:7.1f}),"
                        f" p90 {p90 * 1000:7.1f} ms (served {want_p90 * 1000:7.1f}), {histogram.count:.0f}"
                        f" observations, slower than the target {errors:.1%} (served {slow:.1%})"
                    )
                    rows.append(row)
                    same = (
                        (labels["runtime"], labels["model"], labels["role"]) == (runtime.value, MODEL, "serve")
                        and mean == pytest.approx(want_mean, rel=0.02)
                        and p90 == pytest.approx(want_p90, rel=0.05)
                        and errors == pytest.approx(slow, abs=0.02)
                    )
                    if not same:
                        wrong.append(f"{row} labels {labels}")
            compared[:] = [rows, wrong]
            return not wrong

        try:
            wait_until(unified_is_served, 30, "the unified series to show what the emulators served")
        except AssertionError as exc:
            raise AssertionError("\n".join(compared[1] if compared else [])) from exc
        print("\n" + "\n".join(compared[0]))

        # --- every panel's every query answers with the labels its legend names
        serving = json.loads((CHART / "dashboards/arks-serving.json").read_text())
        control = json.loads((CHART / "dashboards/arks-control-plane.json").read_text())
        rate = {"__rate_interval": "1m"}
        checks: list[tuple[str, str, str]] = []
        for name, _, _ in APPS.values():
            for title, expr, legend in _queries(serving):
                variables = {"namespace": ns, "application": name, **rate}
                checks.append((f"{name}: {title}", _substitute(expr, variables), legend))
        jobs = "arks-(watcher|planner|deployer|model-loader|slo-scaler)"
        checks += [(t, _substitute(e, {"job": jobs, **rate}), legend) for t, e, legend in _queries(control)]

        last: list[list[str]] = []

        def answered() -> bool:
            problems = [
                f"{title}: {why}" for title, expr, legend in checks if (why := _missing(prometheus, expr, legend))
            ]
            last[:] = [problems]
            return not problems

        try:
            wait_until(answered, 90, "every dashboard query to return series with its legend's labels")
        except Exception as exc:
            raise AssertionError("\n".join(last[0] if last else [])) from exc
        print(
            f"\n{len(checks)} dashboard queries answered ({len(_queries(serving))} serving x {len(APPS)} applications"
            f" + {len(_queries(control))} control plane)"
        )

    finally:
        for load in loads.values():
            load.stop()
        sync.close()
