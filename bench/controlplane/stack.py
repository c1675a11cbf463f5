"""The private stack every control-plane benchmark runs on: a local cluster, a nats-server and the five services as
processes (authenticated as in the e2e suite), stopped when the benchmark is done; and a service's memory."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the real-server harness the e2e suite uses

from arks_localcluster.build import build_all  # noqa: E402
from arks_localcluster.cluster import DEFAULT_NODES, H100, LocalCluster, NodeSpec  # noqa: E402
from support.e2e import Env, start_env  # noqa: E402


def fake_gpu_nodes(prefix: str, pods: int, count: int = 4) -> list[NodeSpec]:
    return [NodeSpec(f"{prefix}-{i}", H100, cpu="1000", pods=pods) for i in range(count)]


@contextmanager
def local_stack(prefix: str, nodes: Iterable[NodeSpec] = DEFAULT_NODES, tracing: bool = False) -> Iterator[Env]:
    """The stack; its services trace to a file only with `tracing` (the timeline reads it): by default they run as
    users run them, without (a span per API request and per message is ~14% of the deployer's CPU in a burst)."""
    build_all()
    kept = os.environ.get("ARKS_BENCH_WORK")  # a directory to keep the run's logs in, for reading afterwards
    with tempfile.TemporaryDirectory(prefix=prefix) if not kept else nullcontext(kept) as tmp:
        work = Path(tmp)
        cluster = LocalCluster(work / "cluster", nodes=nodes)
        cluster.start()
        try:
            env_iter = start_env(cluster, work / "arks", tracing)
            yield next(env_iter)
            next(env_iter, None)  # the services stop and are checked to have stopped cleanly
        finally:
            cluster.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def others(env: Env) -> dict[str, int]:
    """The pids of every other process of the stack: the cluster's components, nats-server and this client."""
    pids = {name: pid for name, pid, _ in env.cluster.recorded_pids()}
    if env.nats.pid is not None:
        pids["nats-server"] = env.nats.pid
    pids["this client"] = os.getpid()
    return pids


def machine_busy_seconds() -> float:
    """CPU time every process of the machine has used so far, all cores (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS), or the most the process ever had resident (VmHWM, its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")
