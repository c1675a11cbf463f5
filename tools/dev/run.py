"""`make run` / `make stop`: the whole Arks system on this machine, in the background.

Starts the local cluster (tools/localcluster), a nats-server with JetStream, and the five services as
separate processes; installs the CRDs and applies the quickstart (a model and the user guide's vLLM
application), then shows the application reach Running. Locally the pods run on fake GPU nodes (KWOK):
nothing is downloaded and no inference happens. A real cluster uses the Helm charts in deploy/charts.

Idempotent: what already runs is reported and kept. Our own state (pid files, logs, the NATS store) lives
in `$ARKS_CACHE/stack`, beside the cluster's work directory `$ARKS_CACHE/run` and never inside it. Every
port is checked before anything starts, so a port held by another program fails at once, naming it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

from arks_localcluster.storage import pv_pool

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("ARKS_CACHE") or Path.home() / ".cache" / "arks").expanduser()
STACK = CACHE / "stack"
LOGS = STACK / "logs"
NATS_PORT = int(os.environ.get("ARKS_NATS_PORT", "4222"))
HTTP_PORT_BASE = int(os.environ.get("ARKS_HTTP_PORT_BASE", "18081"))
SERVICES = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")
BIN = Path(sys.executable).parent
STOP_GRACE_SECONDS = 20.0


class Failed(Exception):
    """A step of `make run` / `make stop` failed; the message is what the user reads."""


@dataclass(frozen=True)
class Process:
    """One background process of the stack: its pid file, its port and how to tell it is ready."""

    name: str
    argv: tuple[str, ...]
    port: int
    port_setting: str  # the variable that moves this port elsewhere

    @property
    def pid_file(self) -> Path:
        return STACK / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOGS / f"{self.name}.log"


def say(message: str) -> None:
    print(f"[arks] {message}", flush=True)


# ------------------------------------------------------------------------------------------ steps
def step(what: str, argv: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Runs one step; on failure raises `Failed` carrying the step's own error text."""
    proc = subprocess.run(argv, env=env, input=stdin, text=True, capture_output=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-4000:]
        raise Failed(f"{what} failed (exit {proc.returncode}):\n{detail}")
    return proc.stdout


def localcluster(what: str, *args: str) -> str:
    return step(what, [sys.executable, "-m", "arks_localcluster", *args])


def kubectl_env() -> dict[str, str]:
    env = dict(os.environ)
    for line in localcluster("reading the local cluster's environment", "env").splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip("'\"")
    return env


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return step(f"kubectl {' '.join(args)}", ["kubectl", *args], env=env, stdin=stdin)


# ------------------------------------------------------------------------------------------ processes
def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def port_holder(port: int) -> str:
    """'pid 123 (nats-server)' for the process listening on `port`, as far as /proc tells."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                return f"pid {proc.name} ({(proc / 'comm').read_text().strip()})"
        except OSError:
            continue
    return "another program"


def running_pid(process: Process) -> int | None:
    """The pid of our own `process` if it still runs (a recycled pid running something else does not count)."""
    try:
        pid = int(process.pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    if state in ("Z", "X"):
        return None
    # Empty while the kernel is still loading the program (exec has closed the parent's pipe but not yet
    # set up the new arguments), so it cannot tell a recycled pid apart: count it as ours.
    return pid if not cmdline or process.argv[0].encode() in cmdline.split(b"\0") else None


def check_port(process: Process) -> None:
    if running_pid(process) is None and port_open(process.port):
        raise Failed(
            f"port {process.port}, which {process.name} needs, is taken by {port_holder(process.port)}. "
            f"Stop that program, or give Arks other ports: {process.port_setting}=<port> make run"
        )


def start(process: Process, env: dict[str, str], is_ready: Callable[[], bool], timeout: float = 90) -> None:
    pid = running_pid(process)
    if pid is not None:
        say(f"{process.name} already running (pid {pid})")
    else:
        LOGS.mkdir(parents=True, exist_ok=True)
        with process.log_file.open("ab") as log:
            child = subprocess.Popen(
                process.argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        process.pid_file.write_text(str(child.pid))
        pid = child.pid
    deadline = time.monotonic() + timeout
    while not is_ready():
        if running_pid(process) is None:
            tail = process.log_file.read_text(errors="replace")[-3000:] if process.log_file.exists() else ""
            raise Failed(f"{process.name} exited while starting; the end of its log ({process.log_file}):\n{tail}")
        if time.monotonic() > deadline:
            raise Failed(
                f"{process.name} was not ready on port {process.port} in {timeout:.0f}s; log: {process.log_file}"
            )
        time.sleep(0.25)
    say(f"{process.name} ready on 127.0.0.1:{process.port} (pid {pid})")


def stop(process: Process) -> None:
    pid = running_pid(process)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while running_pid(process) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if running_pid(process) is not None:
            os.kill(pid, signal.SIGKILL)
            say(f"{process.name} did not stop in {STOP_GRACE_SECONDS:.0f}s; killed")
        say(f"stopped {process.name} (pid {pid})")
    process.pid_file.unlink(missing_ok=True)


def http_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def stack() -> list[Process]:
    """The stack's processes in start order."""
    nats = Process(
        "nats-server",
        (str(BIN / "nats-server"), "-js", "-sd", str(STACK / "nats"), "-a", "127.0.0.1", "-p", str(NATS_PORT)),
        NATS_PORT,
        "ARKS_NATS_PORT",
    )
    services = [
        Process(f"arks-{name}", (str(BIN / f"arks-{name}"),), HTTP_PORT_BASE + i, "ARKS_HTTP_PORT_BASE")
        for i, name in enumerate(SERVICES)
    ]
    return [nats, *services]


# ------------------------------------------------------------------------------------------ commands
def follow_phase(env: dict[str, str], kind: str, name: str, goal: str, timeout: float = 180) -> None:
    """Prints each phase the object passes through until it reaches `goal`."""
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = kubectl(env, "get", kind, name, "-n", "default", "-o", "jsonpath={.status.phase}")
        if phase != seen:
            say(f"{kind} {name} phase: {phase or '(none yet)'}")
            seen = phase
        if phase == goal:
            return
        time.sleep(0.3)
    raise Failed(f"{kind} {name} did not reach {goal} in {timeout:.0f}s; service logs are in {LOGS}")


def up() -> None:
    processes = stack()
    for process in processes:
        check_port(process)
        if not Path(process.argv[0]).exists():
            raise Failed(f"{process.argv[0]} is missing; `make deps` installs it")
    STACK.mkdir(parents=True, exist_ok=True)

    say("starting the local cluster (etcd, kube-apiserver, controller-manager, scheduler, KWOK, LeaderWorkerSet)")
    print(localcluster("starting the local cluster", "up"), end="")
    env = kubectl_env()
    kubectl(env, "apply", "-f", str(ROOT / "deploy" / "crds"))
    kubectl(env, "wait", "--for=condition=Established", "crd/arksapplications.arks.ai", "crd/arksmodels.arks.ai")
    kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump_all(pv_pool(32)))

    nats, *services = processes
    start(nats, env, lambda: port_open(NATS_PORT))
    service_env = {
        **env,
        "ARKS_NATS_URL": f"nats://127.0.0.1:{NATS_PORT}",
        "ARKS_KUBECONFIG": env["KUBECONFIG"],
        "ARKS_HTTP_HOST": "127.0.0.1",
        "ARKS_LOG_FORMAT": "console",
    }
    say("declaring the bus's streams and consumers (arks-bus-bootstrap; the services only verify them)")
    step("declaring the bus", [str(BIN / "arks-bus-bootstrap")], env=service_env)
    for service in services:
        start(service, {**service_env, "ARKS_HTTP_PORT": str(service.port)}, partial(http_ready, service.port))

    say("applying the quickstart: ArksModel qwen-7b and the user guide's vLLM application app-qwen-vllm")
    say("(the model-loader creates the claim and the download Job; on fake nodes the Job completes at once)")
    kubectl(env, "apply", "-n", "default", "-f", str(ROOT / "deploy" / "samples" / "quickstart" / "model.yaml"))
    kubectl(env, "apply", "-n", "default", "-f", str(ROOT / "deploy" / "samples" / "application-vllm.yaml"))

    follow_phase(env, "arksmodel", "qwen-7b", "Ready")
    follow_phase(env, "arkapp", "app-qwen-vllm", "Running")
    print(kubectl(env, "get", "arksapplications", "-n", "default"), end="")
    print(kubectl(env, "get", "pods", "-l", "arks.ai/application=app-qwen-vllm", "-n", "default", "-o", "wide"), end="")
    print(
        f"""
Arks is running locally. The pods above run on fake GPU nodes (KWOK): no model is downloaded and no
inference happens. On a real cluster, install the Helm charts in deploy/charts instead.

  export KUBECONFIG={env["KUBECONFIG"]}
  kubectl get arksapplications -o wide
  kubectl describe arkapp app-qwen-vllm
  nats sub 'arks.>' --server nats://127.0.0.1:{NATS_PORT}     # every event on the bus
  logs: {LOGS}
  make stop                                           # stops everything
"""
    )


def down() -> None:
    for process in reversed(stack()):
        stop(process)
    # The next `make run` starts a new, empty cluster, so the bus starts empty too.
    shutil.rmtree(STACK / "nats", ignore_errors=True)
    print(localcluster("stopping the local cluster", "down"), end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args()
    try:
        up() if args.command == "up" else down()
    except Failed as exc:
        print(f"[arks] error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
