"""SLO autoscaling end to end: a real Prometheus (Debian's package) scrapes the runtime emulator standing in for each
leader pod; the slo-scaler reads it over PromQL, scales the application's LeaderWorkerSet up when the load breaks the
TTFT target, and back down after the stabilization window when the load goes away, and says why (status, Events).

Pods run on KWOK fake GPU nodes (no container, no reachable IP), so a background thread maps each leader pod to an
emulator group: a Prometheus target labelled with the pod's namespace and name, and, once the pod is Ready, a target of
the load generator (as a Service lists Ready endpoints).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from arks_common.api.application import Runtime
from arks_common.events.contract import SCALE_STREAM
from arks_slo_scaler.adapters.metrics_source import render_exposition
from arks_slo_scaler.core.metrics import histogram_quantile, parse_metrics
from support.builders import rwx_model, small_app
from support.e2e import Env, wait_until
from support.emulator import Emulator, GroupMap, LoadGenerator, write_lines
from support.prometheus import PrometheusServer, Target, slo_scaler_reading
from support.repeating import Repeating

pytestmark = pytest.mark.cluster

APP = "autoscaled"
LEADERS = f"arks.ai/application={APP},arks.ai/work-load-role=leader"
SCALE_UP_S, SCALE_DOWN_S, WARMUP_S = 3, 20, 5
TTFT_TARGET_MS = 500  # p90 on a vLLM TTFT bucket edge (0.5 s)
# One emulated group (H100 step times x5, 8 sequences at a time) completes about 6 requests/s of 256 prompt tokens and
# 32 output tokens: 10 requests/s queue on one group (TTFT grows to seconds), two or three groups serve them in SLO.
EMULATOR_ARGS = ("--slowdown", "5", "--max-num-seqs", "8")
HIGH_RPS, PROMPT_TOKENS, OUTPUT_TOKENS = 10.0, 256, 32


def autoscaled_app() -> dict[str, Any]:
    return small_app(
        APP,
        autoscaling={
            "minReplicas": 1,
            "maxReplicas": 4,
            "slo": {"timeToFirstToken": {"targetMilliseconds": TTFT_TARGET_MS, "percentile": 90}},
            "behavior": {
                "scaleUpStabilizationSeconds": SCALE_UP_S,
                "scaleDownStabilizationSeconds": SCALE_DOWN_S,
                "warmupSeconds": WARMUP_S,
            },
        },
    )


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    server = PrometheusServer(tmp_path / "prometheus", scrape_interval="1s")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path / "emulator", groups=8, extra_args=EMULATOR_ARGS)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def scaler_on_prometheus(arks: Env, prometheus: PrometheusServer) -> Iterator[None]:
    with slo_scaler_reading(arks.system["slo-scaler"], prometheus.url):
        yield


class PodSync(Repeating):
    """Keeps Prometheus' targets and the load generator's targets in step with the application's leader pods."""

    def __init__(self, arks: Env, ns: str, prometheus: PrometheusServer, groups: GroupMap, load_targets: Path) -> None:
        super().__init__("pod sync")
        self._arks, self._ns, self._prometheus, self._groups = arks, ns, prometheus, groups
        self._load_targets = load_targets
        self._last: tuple[list[Target], list[str]] | None = None
        write_lines(load_targets, [])

    def step(self) -> None:
        now = self._groups.sync(self._ns, self._arks.items("pods", self._ns, LEADERS))
        if now != self._last:
            self._prometheus.set_targets(now[0])
            write_lines(self._load_targets, now[1])
            self._last = now


class Timeline:
    """What the test saw, with seconds since its start: the decisions in the status, the LWS size, ready leaders."""

    def __init__(self, arks: Env, ns: str) -> None:
        self._arks, self._ns = arks, ns
        self.started = time.monotonic()
        self.decisions: list[tuple[float, dict[str, Any]]] = []
        self.sizes: list[tuple[float, int, int]] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def look(self) -> tuple[int, int, dict[str, Any]]:
        """(LWS spec.replicas, Ready leader pods, status.autoscaling), recording changes."""
        app = self._arks.get("arksapplication", APP, self._ns) or {}
        autoscaling = (app.get("status") or {}).get("autoscaling") or {}
        last = autoscaling.get("lastDecision")
        if last and (not self.decisions or self.decisions[-1][1] != last):
            self.decisions.append((self.now(), last))
        lws = self._arks.get("leaderworkerset", APP, self._ns) or {}
        replicas = int((lws.get("spec") or {}).get("replicas", 0))
        ready = sum(1 for p in self._arks.items("pods", self._ns, LEADERS) if _ready(p))
        if not self.sizes or self.sizes[-1][1:] != (replicas, ready):
            self.sizes.append((self.now(), replicas, ready))
        return replicas, ready, autoscaling

    def until(self, check: Callable[[int, int, dict[str, Any]], bool], within: float, what: str) -> float:
        wait_until(lambda: check(*self.look()), within, what, interval=0.5)
        return self.now()

    def reasons(self, since: float = 0.0) -> list[str]:
        return [d["reason"] for t, d in self.decisions if t >= since]

    def dump(self) -> str:
        lines = [f"{t:6.1f}s  LWS replicas {r}, ready leaders {n}" for t, r, n in self.sizes]
        lines += [f"{t:6.1f}s  {d['direction']:<4} {d['reason']}: {d['message']}" for t, d in self.decisions]
        return "\n".join(sorted(lines, key=lambda line: float(line.split("s")[0])))


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _reason(autoscaling: dict[str, Any]) -> str:
    return str((autoscaling.get("lastDecision") or {}).get("reason", ""))


async def _purge_scale_stream(arks: Env) -> None:
    nc = await nats.connect(arks.nats.url, allow_reconnect=False, **arks.nats_admin())
    try:
        await nc.jetstream().purge_stream(SCALE_STREAM.name)
    finally:
        await nc.close()


def _scale_events(arks: Env, ns: str) -> list[tuple[str, str]]:
    events = arks.items("events", ns)
    return [
        (e["reason"], e.get("message", ""))
        for e in events
        if e.get("involvedObject", {}).get("name") == APP and e.get("reason") in ("ScaleUp", "ScaleDown")
    ]


def test_emulator_latency_grows_with_load_and_prometheus_serves_its_vllm_metrics(
    prometheus: PrometheusServer, emulator: Emulator, tmp_path: Path
) -> None:
    """No cluster: two emulator groups under a light and a heavy load, one of them scraped by Prometheus."""
    light_targets, heavy_targets = tmp_path / "light.txt", tmp_path / "heavy.txt"
    write_lines(light_targets, [emulator.group_url(0)])
    write_lines(heavy_targets, [emulator.group_url(1)])
    prometheus.set_targets([emulator.target(1, "ns-a", "app-0")])
    light, heavy = LoadGenerator(tmp_path, light_targets, "light"), LoadGenerator(tmp_path, heavy_targets, "heavy")
    light.start(2.0, duration=8, prompt_tokens=PROMPT_TOKENS, max_tokens=OUTPUT_TOKENS)
    heavy.start(HIGH_RPS, duration=8, prompt_tokens=PROMPT_TOKENS, max_tokens=OUTPUT_TOKENS, seed=1)
    reports = light.wait(60), heavy.wait(60)
    assert all(r["ok"] == r["sent"] > 0 for r in reports), reports

    parsed = [parse_metrics(emulator.metrics(g), Runtime.VLLM) for g in (0, 1)]
    assert [p.problems for p in parsed] == [(), ()]
    (calm, busy) = (p.snapshot for p in parsed)
    assert calm.time_to_first_token is not None
    assert busy.time_to_first_token is not None
    assert calm.inter_token_latency is not None
    assert busy.inter_token_latency is not None
    assert calm.time_to_first_token.count == reports[0]["ok"]
    assert (histogram_quantile(0.9, calm.time_to_first_token) or 0) <= TTFT_TARGET_MS / 1000
    assert (histogram_quantile(0.9, busy.time_to_first_token) or 0) > 2 * TTFT_TARGET_MS / 1000
    calm_itl = calm.inter_token_latency.sum / calm.inter_token_latency.count
    busy_itl = busy.inter_token_latency.sum / busy.inter_token_latency.count
    assert busy_itl > calm_itl

    # what the slo-scaler reads back from Prometheus (relabelled namespace/pod) parses to the same numbers
    query = '{namespace="ns-a",pod="app-0",__name__=~"(vllm|sglang):.+|dynamo_.+"}'

    def scraped() -> Any:
        result = prometheus.query(query)
        got = parse_metrics(render_exposition(result), Runtime.VLLM)
        h = got.snapshot.time_to_first_token
        return got if h is not None and h.count == reports[1]["ok"] else None

    via_prometheus = wait_until(scraped, 20, "Prometheus to have scraped the heavy group's final counters")
    assert via_prometheus.problems == ()
    assert via_prometheus.snapshot.time_to_first_token == busy.time_to_first_token


@pytest.mark.timeout(360)
def test_load_scales_the_groups_up_and_its_absence_scales_them_down_after_the_window(
    arks: Env,
    ns: str,
    prometheus: PrometheusServer,
    emulator: Emulator,
    scaler_on_prometheus: None,
    tmp_path: Path,
) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, autoscaled_app())
    arks.wait_phase(APP, ns, "Running")
    timeline = Timeline(arks, ns)
    sync = PodSync(arks, ns, prometheus, GroupMap(emulator), tmp_path / "load-targets.txt")
    sync.start()
    load = LoadGenerator(tmp_path, tmp_path / "load-targets.txt", "high")
    try:
        # Prometheus scrapes the first group's emulator under the leader pod's name, and the scaler has looked at it
        leader = arks.items("pods", ns, LEADERS)[0]["metadata"]["name"]
        query = f'vllm:num_requests_running{{namespace="{ns}",pod="{leader}"}}'
        wait_until(lambda: prometheus.query(query), 30, f"Prometheus to have {query}")
        timeline.until(lambda r, n, a: bool(a.get("lastDecision")), 30, "a first decision in the status")
        assert timeline.look()[0] == 1

        # --- raise the load: TTFT breaks the target on one group, the scaler adds groups
        load.start(HIGH_RPS, duration=180, prompt_tokens=PROMPT_TOKENS, max_tokens=OUTPUT_TOKENS)
        raised = timeline.now()
        up_at = timeline.until(lambda r, n, a: r >= 2, 60, "the LeaderWorkerSet to grow")
        timeline.until(lambda r, n, a: n == r >= 2, 60, "every group's leader Ready")
        pods = arks.items("pods", ns, f"arks.ai/application={APP}")
        assert pods
        assert all(p["status"]["phase"] == "Running" and _ready(p) for p in pods), pods
        for node_name in {p["spec"]["nodeName"] for p in pods}:
            node = json.loads(arks.kubectl("get", "node", node_name, "-o", "json"))
            assert node["metadata"]["annotations"].get("kwok.x-k8s.io/node") == "fake"
            assert node["metadata"]["labels"].get("nvidia.com/gpu.present") == "true"
        ups = [d for _, d in timeline.decisions if d["direction"] == "Up"]
        assert ups, timeline.dump()
        assert ups[0]["reason"] in ("SLOBreached", "QueueBuilding"), ups[0]
        # a fresh scaler plans over the start its groups took (their pods' creation to Ready: seconds on KWOK), not
        # over the configured guess of 120 s; the message names it with the capacity ("cold start N s") or with the
        # backlog expected by then ("W waiting (B in N s)")
        planned = re.search(r"(?:cold start|waiting \(\d+ in) (\d+) s", ups[0]["message"])
        assert planned is not None, ups[0]
        assert int(planned.group(1)) < 60, ups[0]
        # with the load spread over the new groups the SLO holds again
        within = timeline.until(lambda r, n, a: _reason(a) == "WithinSLO", 90, "TTFT back within the SLO")
        peak = timeline.look()[0]

        # --- the decision outlives the bus: every scale message gone (as a day of retention would do), then a
        # spec edit that makes the deployer apply a new plan: the groups stay at the slo-scaler's decision
        asyncio.run(_purge_scale_stream(arks))
        purged = timeline.now()
        behavior = {"warmupSeconds": WARMUP_S + 1}
        patch = json.dumps({"spec": {"autoscaling": {"behavior": behavior}}})
        arks.kubectl("patch", "arkapp", APP, "-n", ns, "--type=merge", "-p", patch)
        edited = arks.wait_phase(APP, ns, "Running")
        decided = int(edited["status"]["autoscaling"]["desiredReplicas"])
        timeline.until(lambda r, n, a: r == a.get("desiredReplicas"), 30, "the LWS at the durable decision")
        assert decided >= 2, timeline.dump()
        assert min((r for t, r, _ in timeline.sizes if t >= purged), default=timeline.look()[0]) >= 2, timeline.dump()
        high = load.stop()

        # --- lower the load (to nothing): no scale-down before the stabilization window, then back to minReplicas
        lowered = timeline.now()
        down_at = timeline.until(lambda r, n, a: r == 1, 120, "the LeaderWorkerSet to shrink to minReplicas")
        assert down_at - lowered >= SCALE_DOWN_S, timeline.dump()
        assert "DownscaleStabilizing" in timeline.reasons(since=lowered), timeline.dump()
        timeline.until(lambda r, n, a: n == 1 and len(arks.items("pods", ns, LEADERS)) == 1, 60, "one group left")

        reasons = {reason for reason, _ in _scale_events(arks, ns)}
        assert reasons == {"ScaleUp", "ScaleDown"}, _scale_events(arks, ns)
        describe = arks.kubectl("describe", "arkapp", APP, "-n", ns)
        for word in ("ScaleUp", "ScaleDown", "SLOBreached", "TTFT"):
            assert word in describe, describe
        print(
            f"\nload raised at {raised:.1f}s ({HIGH_RPS:g} req/s), first scale-up at {up_at:.1f}s,"
            f" within SLO at {within:.1f}s, peak {peak} groups; load stopped at {lowered:.1f}s,"
            f" back to 1 group at {down_at:.1f}s"
            f" ({down_at - lowered:.1f}s later; window {SCALE_DOWN_S}s)\nload report: {high}\n{timeline.dump()}\n"
            + "\n".join(line for line in describe.splitlines() if "Scale" in line)
        )
    finally:
        load.stop()
        sync.close()
