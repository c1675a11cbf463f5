"""Kubernetes API requests that one ArksApplication's creation costs, counted by the API server itself.

Starts the same private stack as `bench.controlplane.run` (local cluster, nats-server, the five services as
processes authenticated as their charts' ServiceAccounts), with the kube-apiserver's audit log on (level
Metadata). Once the stack is idle it measures an idle interval (the background: node leases, the slo-scaler's
lease, controllers' resyncs), then applies N one-pod applications one at a time: each is waited to phase
Running, then until no application-related write has happened for `--quiet` seconds; that interval is the
application's window. Two sources are reported:
  - the audit log, per window, by client (user.username: the Arks services are
    system:serviceaccount:arks-system:arks-<service>) and by (verb, resource[/subresource]); a request is
    counted once, when received (a watch when it starts). Medians across the N applications;
  - the API server's own `apiserver_request_total` (no user label), scraped before the idle interval, after
    it and after the last window: per application = delta / N, and the idle interval's rate over the same time.
    It counts a watch when the watch ends, and server-side apply as APPLY (the audit log says patch).
The benchmark's own kubectl (apply, polling the phase, scraping) is the client "bench kubectl". Usage:

    uv run python -m bench.controlplane.requests --apps 5
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the real-server harness the e2e suite uses

from arks_localcluster.build import build_all  # noqa: E402
from arks_localcluster.cluster import H100, LocalCluster, NodeSpec  # noqa: E402
from support.e2e import Env, start_env  # noqa: E402

SERVICES = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")
ARKS = tuple(f"arks-{s}" for s in SERVICES)
SHOWN = ("arksapplications", "arksmodels", "leaderworkersets", "services", "events", "pods", "leases")
READS = frozenset({"get", "list", "watch", "watchlist"})
# A write to one of these, or any Arks service's write except its lease, means the application is still settling.
SETTLING = frozenset({"arksapplications", "leaderworkersets", "statefulsets", "pods", "services"})
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}
Key = tuple[str, str]  # (verb, resource[/subresource])


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _client(user: str) -> str:
    if user.startswith("system:serviceaccount:arks-system:"):
        return user.rsplit(":", 1)[1]
    if user.startswith("system:serviceaccount:kube-system:") or user == "system:kube-controller-manager":
        return "kube-controller-manager"
    return {
        "arks-admin": "bench kubectl",
        "system:kube-scheduler": "kube-scheduler",
        "kwok-controller": "kwok",
        "system:apiserver": "kube-apiserver",
    }.get(user, user)


@dataclass(frozen=True)
class Request:
    at: float
    client: str
    verb: str
    resource: str

    @property
    def read(self) -> bool:
        return self.verb.lower() in READS


class AuditedCluster(LocalCluster):
    """The local cluster with the kube-apiserver's audit log on: JSON lines in `audit_log`, level Metadata."""

    def __init__(self, workdir: Path, audit_dir: Path, nodes: Iterable[NodeSpec]) -> None:
        super().__init__(workdir, nodes=nodes)
        audit_dir.mkdir(parents=True, exist_ok=True)
        self.audit_log = audit_dir / "audit.jsonl"
        self.audit_policy = audit_dir / "policy.yaml"
        self.audit_policy.write_text(yaml.safe_dump(AUDIT_POLICY))

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
        if name == "kube-apiserver":
            args = [
                *args,
                f"--audit-policy-file={self.audit_policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
                "--audit-log-maxsize=0",
            ]
        super()._spawn(name, args, env)


class AuditLog:
    """Reads the audit log as it grows; each request once (a watch's ResponseComplete after its start is skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.requests: list[Request] = []
        self._offset = 0
        self._started: set[str] = set()

    def poll(self) -> None:
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            event = json.loads(line)
            audit_id = event["auditID"]
            if event["stage"] == "ResponseStarted":
                self._started.add(audit_id)
            elif audit_id in self._started:
                self._started.discard(audit_id)
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource") or "(non-resource)"
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            client = _client(event["user"]["username"])
            self.requests.append(Request(_ts(event["requestReceivedTimestamp"]), client, event["verb"], resource))

    def between(self, start: float, end: float) -> list[Request]:
        return [r for r in self.requests if start <= r.at < end]


def scrape(cluster: LocalCluster) -> Counter[Key]:
    """apiserver_request_total summed over code, group, version, scope, component: by (VERB, resource[/sub])."""
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    out: Counter[Key] = Counter()
    for m in re.finditer(r"^apiserver_request_total\{(.*)\} (\S+)$", text, re.MULTILINE):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
        resource = labels.get("resource", "")
        if not resource:  # a non-resource URL: its path is in `subresource`
            resource = f"(non-resource) {labels.get('subresource', '')}".rstrip()
        elif labels.get("subresource"):
            resource += "/" + labels["subresource"]
        out[(labels.get("verb", ""), resource)] += int(float(m.group(2)))
    return out


def wait_quiet(log: AuditLog, since: float, quiet: float, bound: float) -> float:
    """Waits until no settling write was received for `quiet` seconds (at most `bound`); returns that moment."""
    deadline = time.time() + bound
    while True:
        time.sleep(0.5)
        log.poll()
        now = time.time()
        busy = [
            r.at
            for r in log.between(since, now)
            if not r.read
            and r.client != "bench kubectl"
            and (r.resource.split("/")[0] in SETTLING or (r.client in ARKS and not r.resource.startswith("leases")))
        ]
        if now - max(busy, default=since) >= quiet:
            return now
        if now > deadline:
            print(f"warning: still not quiet after {bound:.0f}s; window closed anyway", file=sys.stderr)
            return now


def wait_running(cluster: LocalCluster, name: str, namespace: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        app = cluster.kubectl_json("get", "arksapplication", name, "-n", namespace)
        status = app.get("status") or {}
        if status.get("phase") == "Running" and status.get("observedGeneration") == app["metadata"]["generation"]:
            return
        time.sleep(0.5)
    raise SystemExit(f"{namespace}/{name} not Running after {timeout:.0f}s")


def _app(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksApplication",
        "metadata": {"name": f"req-{i:03d}"},
        "spec": {
            "model": {"name": "qwen-7b"},
            "instanceSpec": {"replicas": 1, "resources": {"requests": {"cpu": "1m"}}},
        },
    }


def _fmt(value: float) -> str:
    value = round(value, 1) + 0.0  # no "-0"
    return f"{value:.0f}" if value == round(value) else f"{value:.1f}"


def _row(label: str, values: Iterable[float]) -> str:
    return f"| {label} | " + " | ".join(_fmt(v) for v in values) + " |"


Tally = Counter[tuple[str, str, str]]  # requests by (client, verb, resource)


@dataclass(frozen=True)
class Where:
    """Selects requests of a tally: by clients (None: all), verb, resource, and reads or writes (None: both)."""

    clients: tuple[str, ...] | None = None
    verb: str | None = None
    resource: str | None = None
    read: bool | None = None

    def count(self, tally: Tally) -> int:
        return sum(
            n
            for (client, verb, resource), n in tally.items()
            if (self.clients is None or client in self.clients)
            and self.verb in (None, verb)
            and self.resource in (None, resource)
            and self.read in (None, verb.lower() in READS)
        )


def _order(key: Key) -> tuple[bool, str, str]:
    """The resources named in SHOWN first, then the others; by resource, then verb."""
    return key[1].split("/")[0] not in SHOWN, key[1], key[0].lower()


def report(
    windows: list[list[Request]],
    durations: list[float],
    idle: list[Request],
    idle_seconds: float,
    metric: tuple[Counter[Key], Counter[Key], Counter[Key]],
) -> None:
    apps = len(windows)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    tallies = [Counter((r.client, r.verb, r.resource) for r in w) for w in windows]
    idle_tally = Counter((r.client, r.verb, r.resource) for r in idle)
    span = statistics.median(durations)
    scale = span / idle_seconds  # the idle interval's requests, over one median window

    def cells(*wheres: Where) -> list[float]:
        """Per `where`: the median over the applications' windows; then each one's idle count over `span`."""
        got = [float(statistics.median(w.count(t) for t in tallies)) for w in wheres]
        return got + [w.count(idle_tally) * scale for w in wheres]

    print(f"commit {commit.stdout.strip()}: {apps} one-pod applications applied one at a time, each to Running + quiet")
    print(f"window per application: median {span:.1f} s (min {min(durations):.1f}, max {max(durations):.1f})")
    print(f"idle interval before them: {idle_seconds:.0f} s; 'idle' = its requests scaled to {span:.1f} s")
    print("\nper application, audit log (Arks = the five services):")
    print("| app | window (s) | all clients | Arks | Arks reads | Arks writes |")
    print("|---|---|---|---|---|---|")
    for i, (t, d) in enumerate(zip(tallies, durations, strict=True)):
        counts = [Where().count(t), *(Where(ARKS, read=rw).count(t) for rw in (None, True, False))]
        print(_row(f"req-{i:03d} | {d:.1f}", counts))

    arks = cells(Where(ARKS), Where(ARKS, read=True), Where(ARKS, read=False))
    print(
        f"\nArks services, median per application: {_fmt(arks[0])} requests ({_fmt(arks[1])} reads, "
        f"{_fmt(arks[2])} writes); net of the idle background: {_fmt(arks[0] - arks[3])} "
        f"({_fmt(arks[1] - arks[4])} reads, {_fmt(arks[2] - arks[5])} writes)"
    )

    clients = sorted({c for t in [*tallies, idle_tally] for c, _, _ in t} | set(ARKS), key=lambda c: (c not in ARKS, c))
    print("\nby client, median per application (idle: the background over the same time):")
    print("| client | reads | writes | total | idle reads | idle writes | idle total |")
    print("|---|---|---|---|---|---|---|")
    for label, who in [*((c, (c,)) for c in clients), ("**Arks**", ARKS), ("**all clients**", None)]:
        print(_row(label, cells(Where(who, read=True), Where(who, read=False), Where(who))))

    keys = sorted(
        {(v, res) for t in [*tallies, idle_tally] for _, v, res in t} | {("get", r) for r in SHOWN},
        key=_order,
    )
    print("\nby (verb, resource), median per application, audit log (every resource any client touched):")
    print("| verb | resource | " + " | ".join(SERVICES) + " | Arks | all clients | Arks idle | all idle |")
    print("|---|---|" + "---|" * (len(SERVICES) + 4))
    rows = {
        (verb, res): [float(statistics.median(Where((s,), verb, res).count(t) for t in tallies)) for s in ARKS]
        + cells(Where(ARKS, verb, res), Where(None, verb, res))
        for verb, res in keys
    }
    shown = {k[1] for k, values in rows.items() if any(values)}
    for (verb, res), values in rows.items():  # rows all zero are left out, but every resource in SHOWN has one
        if any(values) or (verb == "get" and res in SHOWN and res not in shown):
            print(_row(f"{verb} | {res}", values))

    before, after_idle, after = metric
    per_app, background = after - after_idle, after_idle - before
    mscale = sum(durations) / apps / idle_seconds
    print(f"\napiserver_request_total, all clients: delta over the {apps} windows / {apps}; idle: the idle")
    print(f"interval's delta scaled to the mean window ({sum(durations) / apps:.1f} s); net = per application - idle")
    print("| verb | resource | per application | idle | net |")
    print("|---|---|---|---|---|")

    def metric_row(label: str, select: Callable[[Key], bool]) -> None:
        got = sum(n for k, n in per_app.items() if select(k)) / apps
        base = sum(n for k, n in background.items() if select(k)) * mscale
        print(_row(label, [got, base, got - base]))

    for key in sorted((k for k in per_app.keys() | background.keys() if per_app[k] or background[k]), key=_order):
        metric_row(f"{key[0]} | {key[1]}", functools.partial(operator.eq, key))
    metric_row("**reads** | all", lambda k: k[0].lower() in READS)
    metric_row("**writes** | all", lambda k: k[0].lower() not in READS)
    metric_row("**total** | all", lambda k: True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120, help="seconds for one application to be Running")
    parser.add_argument("--quiet", type=float, default=5, help="seconds without a settling write that end a window")
    parser.add_argument("--idle", type=float, default=30, help="seconds of the idle (background) interval")
    args = parser.parse_args()
    build_all()
    with tempfile.TemporaryDirectory(prefix="arks-bench-req-") as tmp:
        work = Path(tmp)
        cluster = AuditedCluster(work / "cluster", work / "audit", [NodeSpec("bench-0", H100, cpu="1000", pods=1000)])
        cluster.start()
        env_iter = cast(Generator[Env, None, None], start_env(cluster, work / "arks"))
        try:
            env = next(env_iter)
            log = AuditLog(cluster.audit_log)
            env.kubectl("create", "namespace", "bench")
            model = yaml.safe_load((ROOT / "deploy/samples/quickstart/model.yaml").read_text())
            env.ready_model("bench", model)
            wait_quiet(log, time.time(), args.quiet, 120)
            m0, t0 = scrape(cluster), time.time()
            time.sleep(args.idle)
            t1, m1 = time.time(), scrape(cluster)
            windows: list[list[Request]] = []
            durations: list[float] = []
            for i in range(args.apps):
                start = time.time()
                env.apply("bench", _app(i))
                wait_running(cluster, _app(i)["metadata"]["name"], "bench", args.timeout)
                end = wait_quiet(log, start, args.quiet, 120)
                windows.append(log.between(start, end))
                durations.append(end - start)
            m2 = scrape(cluster)
            log.poll()
            report(windows, durations, log.between(t0, t1), t1 - t0, (m0, m1, m2))
            next(env_iter, None)
        finally:
            env_iter.close()
            cluster.stop()


if __name__ == "__main__":
    main()
