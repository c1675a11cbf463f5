"""Per-role SLO autoscaling of a PD-separated application end to end (docs/pd.md), for SGLang's own PD and for
Dynamo with its SGLang backend: a real Prometheus (Debian's package) scrapes runtime emulators standing in for the
prefill and decode leader pods (SGLang's `/metrics`, in the emulator's `--disaggregation-mode prefill` and `decode`;
a Dynamo SGLang worker serves the same `sglang:*` series on its system port, ai-dynamo 1.6.1
`components/src/dynamo/sglang/publisher.py`); the slo-scaler reads it over PromQL. A long-prompt load
on the prefill groups breaks TTFT and scales prefill only; a long-context decode load breaks the inter-token latency
and scales decode only; each role stays within its own bounds and says why in its own `status.autoscaling.<role>`.

As in test_autoscaling.py, pods run on KWOK fake GPU nodes (no container, no reachable IP), so a background thread
maps each leader pod of a role to a group of that role's emulator: a Prometheus target labelled with the pod's
namespace and name, and, once the pod is Ready, a load target of that role.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.builders import rwx_model, sample
from support.e2e import Env, wait_until
from support.emulator import Emulator, GroupMap, LoadGenerator, write_lines
from support.prometheus import PrometheusServer, Target, slo_scaler_reading
from support.repeating import Repeating

pytestmark = pytest.mark.cluster

APP = "pd-scaled"
ROLES = ("prefill", "decode")
BEHAVIOR = {"scaleUpStabilizationSeconds": 3, "scaleDownStabilizationSeconds": 20, "warmupSeconds": 5}
PREFILL_MAX, DECODE_MAX = 3, 2
# Calibrated on the emulator (H100 step times x3, SGLang's bucket edges). One prefill group computes ~7 prompts of
# 2048 tokens a second on an idle machine, so 8 req/s queue on it without bound (TTFT grows past any target) while
# two or three serve them at about the prompt's compute time; the TTFT target (2 s, an SGLang edge) is far above
# that, so CPU contention on a shared test machine (which stretches the emulator's steps) cannot breach it alone.
# 12 req/s of 8192-token contexts and 64 output tokens give one decode group a p50 ITL of ~65 ms, two ~34 ms
# (target 40 ms, an SGLang ITL edge; under contention two may stay above it and hold at decode's maximum).
TTFT_TARGET_MS, ITL_TARGET_MS = 2000, 40
EMULATOR_ARGS = ("--runtime", "sglang", "--slowdown", "3", "--kv-transfer-ms-per-token", "0.001")
PREFILL_RPS, PREFILL_PROMPT = 8.0, 2048
DECODE_RPS, DECODE_CONTEXT, DECODE_OUTPUT = 12.0, 8192, 64


CALM = ("WithinSLO", "DownscaleStabilizing", "RecentBurst")
"""Decisions without pressure."""


SAMPLES = {"sglang": "application-sglang-pd.yaml", "dynamo-sglang": "application-dynamo-sglang-pd.yaml"}


def pd_scaled_app(runtime: str) -> dict[str, Any]:
    doc = copy.deepcopy(sample(SAMPLES[runtime]))
    doc["metadata"] = {"name": APP}
    spec = doc["spec"]
    spec["prefill"]["replicas"] = 1
    spec["decode"]["replicas"] = 1
    spec["prefill"]["autoscaling"] = {
        "minReplicas": 1,
        "maxReplicas": PREFILL_MAX,
        "slo": {"timeToFirstToken": {"targetMilliseconds": TTFT_TARGET_MS, "percentile": 90}},
        "behavior": BEHAVIOR,
    }
    spec["decode"]["autoscaling"] = {
        "minReplicas": 1,
        "maxReplicas": DECODE_MAX,
        "slo": {"interTokenLatency": {"targetMilliseconds": ITL_TARGET_MS, "percentile": 50}},
        "behavior": BEHAVIOR,
    }
    return doc


def leaders(role: str) -> str:
    return f"arks.ai/application={APP},arks.ai/work-load-role=leader,arks.ai/role={role}"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    server = PrometheusServer(tmp_path / "prometheus", scrape_interval="1s")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[dict[str, Emulator]]:
    started: dict[str, Emulator] = {}
    try:
        for role in ROLES:
            emu = Emulator(
                tmp_path / f"emulator-{role}", groups=6, extra_args=(*EMULATOR_ARGS, "--disaggregation-mode", role)
            )
            emu.start()
            started[role] = emu
        yield started
    finally:
        for emu in started.values():
            emu.stop()


class RoleSync(Repeating):
    """Keeps Prometheus' targets (both roles) and each role's load targets in step with the role's leader pods."""

    def __init__(self, arks: Env, ns: str, prometheus: PrometheusServer, emulators: dict[str, Emulator],
                 workdir: Path) -> None:  # fmt: skip
        super().__init__("role sync")
        self._arks, self._ns, self._prometheus = arks, ns, prometheus
        self._maps = {role: GroupMap(emu) for role, emu in emulators.items()}
        self.load_targets = {role: workdir / f"load-{role}.txt" for role in emulators}
        for path in self.load_targets.values():
            write_lines(path, [])
        self._last: list[Target] | None = None

    def step(self) -> None:
        targets: list[Target] = []
        for role, groups in self._maps.items():
            role_targets, urls = groups.sync(self._ns, self._arks.items("pods", self._ns, leaders(role)))
            targets += role_targets
            write_lines(self.load_targets[role], urls)
        if targets != self._last:
            self._prometheus.set_targets(targets)
            self._last = targets


class Timeline:
    """Each role's LeaderWorkerSet size and decisions (its `status.autoscaling.<role>`), seconds since the start."""

    def __init__(self, arks: Env, ns: str) -> None:
        self._arks, self._ns = arks, ns
        self.started = time.monotonic()
        self.sizes: dict[str, list[tuple[float, int]]] = {r: [] for r in ROLES}
        self.decisions: dict[str, list[tuple[float, dict[str, Any]]]] = {r: [] for r in ROLES}

    def now(self) -> float:
        return time.monotonic() - self.started

    def look(self) -> dict[str, tuple[int, dict[str, Any]]]:
        app = self._arks.get("arksapplication", APP, self._ns) or {}
        autoscaling = (app.get("status") or {}).get("autoscaling") or {}
        seen = {}
        for role in ROLES:
            lws = self._arks.get("leaderworkerset", f"{APP}-{role}", self._ns) or {}
            size = int((lws.get("spec") or {}).get("replicas", 0))
            if not self.sizes[role] or self.sizes[role][-1][1] != size:
                self.sizes[role].append((self.now(), size))
            status = autoscaling.get(role) or {}
            last = status.get("lastDecision")
            if last and (not self.decisions[role] or self.decisions[role][-1][1] != last):
                self.decisions[role].append((self.now(), last))
            seen[role] = (size, status)
        return seen

    def until(self, check: Callable[[dict[str, tuple[int, dict[str, Any]]]], bool], within: float, what: str) -> float:
        try:
            wait_until(lambda: check(self.look()), within, what, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.dump()}") from None
        return self.now()

    def sizes_since(self, role: str, since: float) -> list[int]:
        before = [n for t, n in self.sizes[role] if t < since][-1:]
        return before + [n for t, n in self.sizes[role] if t >= since]

    def ups(self, role: str, since: float = 0.0) -> list[dict[str, Any]]:
        return [d for t, d in self.decisions[role] if t >= since and d["direction"] == "Up"]

    def dump(self) -> str:
        lines = [f"{t:6.1f}s  {role} LWS replicas {n}" for role in ROLES for t, n in self.sizes[role]]
        lines += [
            f"{t:6.1f}s  {role} {d['direction']:<4} {d['reason']}: {d['message']}"
            for role in ROLES
            for t, d in self.decisions[role]
        ]
        return "\n".join(sorted(lines, key=lambda line: float(line.split("s")[0])))


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _has(prometheus: PrometheusServer, query: str) -> Callable[[], bool]:
    return lambda: bool(prometheus.query(query))


def _all_ready(arks: Env, ns: str, role: str, count: int) -> bool:
    pods = arks.items("pods", ns, leaders(role))
    return len(pods) == count and all(_ready(p) for p in pods)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("runtime", list(SAMPLES))
def test_prefill_load_scales_only_prefill_and_decode_load_only_decode_each_within_its_bounds(
    arks: Env,
    ns: str,
    prometheus: PrometheusServer,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    runtime: str,
) -> None:
    arks.ready_model(ns, rwx_model())
    if runtime == "sglang":
        arks.kubectl("create", "serviceaccount", "arks-pd-router", "-n", ns)  # the SGLang router's (docs/pd.md)
    with slo_scaler_reading(arks.system["slo-scaler"], prometheus.url):
        arks.apply(ns, pd_scaled_app(runtime))
        arks.wait_phase(APP, ns, "Running", within=120)
        timeline = Timeline(arks, ns)
        sync = RoleSync(arks, ns, prometheus, emulators, tmp_path)
        sync.start()
        prefill_load = LoadGenerator(tmp_path, sync.load_targets["prefill"], "prefill")
        decode_load = LoadGenerator(tmp_path, sync.load_targets["decode"], "decode")
        try:
            # both roles' emulators are scraped under their leader pods' names, and each role has a first decision
            for role, metric in (("prefill", "sglang:num_prefill_inflight_queue_reqs"),
                                 ("decode", "sglang:num_decode_prealloc_queue_reqs")):  # fmt: skip
                leader = arks.items("pods", ns, leaders(role))[0]["metadata"]["name"]
                query = f'{metric}{{namespace="{ns}",pod="{leader}"}}'
                wait_until(_has(prometheus, query), 30, f"Prometheus to have {query}")
            timeline.until(lambda s: all(s[r][1].get("lastDecision") for r in ROLES), 30, "a decision for each role")
            assert {r: s[0] for r, s in timeline.look().items()} == {"prefill": 1, "decode": 1}

            # --- long prompts on prefill: TTFT breaks, prefill grows, decode is left alone
            prefill_load.start(PREFILL_RPS, duration=150, prompt_tokens=PREFILL_PROMPT, max_tokens=1)
            raised = timeline.now()
            prefill_up = timeline.until(lambda s: s["prefill"][0] >= 2, 60, "the prefill LeaderWorkerSet to grow")
            timeline.until(
                lambda s: _all_ready(arks, ns, "prefill", s["prefill"][0]), 60, "every prefill group's leader Ready"
            )
            timeline.until(
                lambda s: s["prefill"][1]["lastDecision"]["reason"] in CALM, 90, "prefill's TTFT back within its SLO"
            )
            ups = timeline.ups("prefill", raised)
            assert ups, timeline.dump()
            # the breach, its queue, or the early signal of prefill's own demand above its learned capacity
            assert ups[0]["reason"] in ("SLOBreached", "QueueBuilding", "LoadAboveCapacity"), ups[0]
            assert timeline.sizes_since("decode", raised) == [1], timeline.dump()
            assert not timeline.ups("decode"), timeline.dump()
            assert max(timeline.sizes_since("prefill", raised)) <= PREFILL_MAX, timeline.dump()
            prefill_report = prefill_load.stop()
            prefill_peak = timeline.look()["prefill"][0]

            # --- long contexts on decode: ITL breaks, decode grows to its max and no further, prefill never grows
            lowered = timeline.now()
            decode_load.start(DECODE_RPS, duration=150, prompt_tokens=DECODE_CONTEXT, max_tokens=DECODE_OUTPUT)
            decode_up = timeline.until(lambda s: s["decode"][0] == DECODE_MAX, 90, "decode to reach its maxReplicas")
            timeline.until(lambda s: _all_ready(arks, ns, "decode", DECODE_MAX), 60, "every decode group Ready")
            timeline.until(
                lambda s: s["decode"][1]["lastDecision"]["reason"] in ("WithinSLO", "AtMaxReplicas"),
                60,
                "decode within its SLO or holding at its maximum",
            )
            ups = timeline.ups("decode", lowered)
            assert ups, timeline.dump()
            assert ups[0]["reason"] in ("SLOBreached", "KVCacheFull", "QueueBuilding", "LoadAboveCapacity"), ups[0]
            assert "TTFT" not in ups[0]["message"], ups[0]
            assert max(timeline.sizes_since("decode", lowered)) == DECODE_MAX, timeline.dump()
            assert max(timeline.sizes_since("prefill", lowered)) <= prefill_peak, timeline.dump()
            assert not timeline.ups("prefill", lowered), timeline.dump()
            decode_report = decode_load.stop()

            # the explanations: each role's own status block, and Events naming the role
            status = (arks.get("arksapplication", APP, ns) or {})["status"]["autoscaling"]
            assert set(status) >= {"prefill", "decode"}, status
            assert "desiredReplicas" not in status, "the aggregated fields stay empty for a PD application"
            assert status["decode"]["desiredReplicas"] == DECODE_MAX
            assert status["decode"]["lastScaleTime"]
            events = [e.get("message", "") for e in arks.items("events", ns)
                      if e.get("involvedObject", {}).get("name") == APP and e.get("reason") == "ScaleUp"]  # fmt: skip
            assert any(m.split(": ")[1:2] == ["prefill"] for m in events), events
            assert any(m.split(": ")[1:2] == ["decode"] and "TTFT" not in m for m in events), events
            print(
                f"\nprefill load at {raised:.1f}s -> prefill up at {prefill_up:.1f}s (peak {prefill_peak});"
                f" decode load at {lowered:.1f}s -> decode at {DECODE_MAX} at {decode_up:.1f}s"
                f"\nprefill load: {prefill_report}\ndecode load: {decode_report}\n{timeline.dump()}"
            )
        finally:
            prefill_load.stop()
            decode_load.stop()
            sync.close()
