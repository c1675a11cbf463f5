"""Stand-ins for the slo-scaler shell's collaborators, so its ticks run in a unit test: the API server's objects
(applications, LeaderWorkerSets, leader pods; a status write as server-side apply of the scaler's one field), a
JetStream that records or refuses publishes, an Event recorder, runtimes whose counters grow, their /metrics, and a
clock the test moves. The decision and the shell are the real ones; tests/e2e/test_autoscaling.py runs them against
a real API server and bus."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from unit.slo_scaler.builders import VLLM_ITL_EDGES, VLLM_LABELS, VLLM_TTFT_EDGES, gauge_text, histogram_text

from arks_common.events.payloads import Envelope
from arks_common.kube.resources import APPLICATIONS, LEADERWORKERSETS, PODS, Resource
from arks_slo_scaler.core.decide import ScalerConfig
from arks_slo_scaler.scaling import SloScaler

T0 = 1_800_000_000.0
BREACHED = 11  # the TTFT bucket index of 1 s: every request over a 500 ms target
WITHIN = 7  # 0.1 s


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """The shell's wall clock, moved by the test."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def application(
    name: str = "chat", *, uid: str = "u1", replicas: int = 2, autoscaling: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An aggregated vLLM application with a p90 TTFT target of 500 ms, 1 to 8 groups."""
    return {
        "apiVersion": APPLICATIONS.api_version,
        "kind": APPLICATIONS.kind,
        "metadata": {"namespace": "ns", "name": name, "uid": uid, "generation": 1},
        "spec": {
            "model": {"name": "m"},
            "replicas": replicas,
            "autoscaling": autoscaling
            or {
                "minReplicas": 1,
                "maxReplicas": 8,
                "slo": {"timeToFirstToken": {"targetMilliseconds": 500, "percentile": 90}},
                "behavior": {"scaleUpStabilizationSeconds": 30, "scaleDownStabilizationSeconds": 300},
            },
        },
        "status": {},
    }


def leader(name: str, index: int, *, ready_at: float, started_at: float | None = None) -> dict[str, Any]:
    """The leader pod of group `index`, Ready since `ready_at`, its runtime container running since `started_at`."""
    started = ready_at - 60 if started_at is None else started_at
    return {
        "metadata": {
            "name": f"{name}-{index}",
            "namespace": "ns",
            "creationTimestamp": stamp(started - 10),
            "labels": {"leaderworkerset.sigs.k8s.io/group-index": str(index)},
        },
        "status": {
            "podIP": f"10.0.0.{index + 1}",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp(ready_at)}],
            "containerStatuses": [
                {"name": "runtime", "restartCount": 0, "state": {"running": {"startedAt": stamp(started)}}}
            ],
        },
    }


class Cluster:
    """The API server's side: objects by (namespace, name); a status write applies the scaler's `autoscaling`."""

    def __init__(self) -> None:
        self.apps: dict[tuple[str, str], dict[str, Any]] = {}
        self.sets: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.status_writes: list[tuple[str, dict[str, Any]]] = []

    def add(self, app: dict[str, Any], groups: int, *, ready_at: float = T0 - 3600) -> None:
        ns, name = app["metadata"]["namespace"], app["metadata"]["name"]
        self.apps[(ns, name)] = app
        self.sets[(ns, name)] = {"spec": {"replicas": groups}}
        self.pods[(ns, name)] = [leader(name, i, ready_at=ready_at) for i in range(groups)]

    def autoscaling(self, name: str = "chat") -> dict[str, Any]:
        status = self.apps[("ns", name)].get("status") or {}
        return dict(status.get("autoscaling") or {})

    async def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        found = (self.apps if res is APPLICATIONS else self.sets if res is LEADERWORKERSETS else {}).get(
            (namespace, name)
        )
        return copy.deepcopy(found)

    async def list_pages(self, res: Resource) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
        assert res is APPLICATIONS
        yield [copy.deepcopy(app) for app in self.apps.values()], "1"

    async def apply_status(self, res: Resource, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply by the field manager that owns `status.autoscaling` alone: what it applies replaces
        what it applied before (a field left out is removed)."""
        self.status_writes.append((name, copy.deepcopy(status)))
        app = self.apps.get((namespace, name))
        if app is not None:
            current = app.setdefault("status", {})
            current.pop("autoscaling", None)
            if status.get("autoscaling"):
                current["autoscaling"] = copy.deepcopy(status["autoscaling"])
        return {}

    # last in the class: below it, the name `list` would be this method, not the type
    async def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        assert res is PODS
        assert namespace is not None
        assert label_selector
        selected = dict(term.split("=", 1) for term in label_selector.split(","))
        return copy.deepcopy(self.pods.get((namespace, selected["arks.ai/application"]), [])), "1"


@dataclass
class Ack:
    duplicate: bool = False


@dataclass
class Bus:
    """A JetStream that keeps what is published (subject, envelope), or refuses it as `refuse` says."""

    published: list[tuple[str, Envelope]] = field(default_factory=list)
    refuse: Callable[[str], Exception | None] = lambda subject: None

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> Ack:
        error = self.refuse(subject)
        if error is not None:
            raise error
        self.published.append((subject, msgspec.json.decode(payload, type=Envelope)))
        return Ack()

    def subjects(self, prefix: str) -> list[str]:
        return [subject for subject, _ in self.published if subject.startswith(prefix)]


class Recorder:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    async def record(self, obj: Any, type_: str, reason: str, message: str) -> None:
        self.recorded.append((type_, reason, message))


class Runtime:
    """A vLLM leader's counters: `serve` adds requests, all with the TTFT of one bucket, as a runtime counts them."""

    def __init__(self, served: float = 1000.0) -> None:
        self.served = served
        self.bucket = WITHIN

    def serve(self, requests: float, bucket: int | None = None) -> None:
        self.served += requests
        self.bucket = self.bucket if bucket is None else bucket

    def text(self) -> str:
        n = self.served
        ttft = [0.0 if i < self.bucket else n for i in range(len(VLLM_TTFT_EDGES))] + [n]
        itl = [n * 10] * (len(VLLM_ITL_EDGES) + 1)
        return (
            gauge_text("vllm:num_requests_running", VLLM_LABELS, 4)
            + gauge_text("vllm:num_requests_waiting", VLLM_LABELS, 0)
            + histogram_text("vllm:time_to_first_token_seconds", VLLM_LABELS, VLLM_TTFT_EDGES, ttft, n * 0.1)
            + histogram_text("vllm:inter_token_latency_seconds", VLLM_LABELS, VLLM_ITL_EDGES, itl, n * 0.2)
        )


Answer = str | Exception | Callable[[], Awaitable[str]]


class Source:
    """/metrics by pod name: a runtime's text, fixed text, an error to raise, or a coroutine to await."""

    def __init__(self) -> None:
        self.runtimes: dict[str, Runtime] = {}
        self.answers: dict[str, Answer] = {}
        self.fetched: list[tuple[str, float]] = []  # (pod, the event loop's time)

    def serve_all(self, requests: float, bucket: int | None = None) -> None:
        for runtime in self.runtimes.values():
            runtime.serve(requests, bucket)

    async def fetch(self, namespace: str, app: str, group: str, pod: dict[str, Any]) -> str:
        name = pod["metadata"]["name"]
        self.fetched.append((name, asyncio.get_running_loop().time()))
        answer = self.answers.get(name)
        if answer is None:
            return self.runtimes.setdefault(name, Runtime()).text()
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return await answer()
        return answer


@dataclass
class Shell:
    scaler: SloScaler
    cluster: Cluster
    bus: Bus
    source: Source
    events: Recorder
    clock: Clock

    async def ticks(self, n: int, *, requests: float = 150.0, bucket: int | None = None, name: str = "chat") -> None:
        """`n` scrape intervals of one application: each runtime serves `requests` (10 req/s), then a tick."""
        for _ in range(n):
            self.source.serve_all(requests, bucket)
            tracked = self.scaler._apps.get(("ns", name))
            if tracked is not None:
                await self.scaler._tick(tracked)
            self.clock.t += 15.0


def shell(
    *,
    config: ScalerConfig | None = None,
    is_leader: Callable[[], bool] = lambda: True,
    interval: float = 15.0,
    cluster: Cluster | None = None,
    source: Source | None = None,
    **options: Any,
) -> Shell:
    """A scaler over stand-ins; give `cluster` and `source` of another to make a second replica of it."""
    cluster, bus, source, events, clock = cluster or Cluster(), Bus(), source or Source(), Recorder(), Clock()
    scaler = SloScaler(
        cluster,  # type: ignore[arg-type]
        bus,  # type: ignore[arg-type]
        source,
        events,  # type: ignore[arg-type]
        interval,
        config or ScalerConfig(),
        is_leader,
        clock=clock,
        **options,
    )
    return Shell(scaler, cluster, bus, source, events, clock)


def track(s: Shell, name: str = "chat") -> None:
    """The application's event reached this replica."""
    s.scaler.application_changed("ns", name, s.cluster.apps[("ns", name)], deleted=False)
