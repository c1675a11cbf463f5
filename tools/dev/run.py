"""`make run` / `make stop`: the whole Arks system on this machine, in the background.

Starts the local cluster (tools/localcluster), a nats-server with JetStream, and the five services as
separate processes; installs the CRDs and applies the quickstart (a model and the user guide's vLLM
application), then shows the application reach Running. Locally the pods run on fake GPU nodes (KWOK):
nothing is downloaded and no inference happens. A real cluster uses the Helm charts in deploy/charts.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

from arks_localcluster.storage import pv_pool

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("ARKS_CACHE", Path.home() / ".cache" / "arks"))
RUN = CACHE / "run" / "arks"
NATS_PORT = int(os.environ.get("ARKS_NATS_PORT", "4222"))
SERVICES = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")
BIN = Path(sys.executable).parent


def say(message: str) -> None:
    print(f"[arks] {message}", flush=True)


def localcluster(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "arks_localcluster", *args], check=True, text=True, capture_output=True
    ).stdout


def kubectl_env() -> dict[str, str]:
    env = dict(os.environ)
    for line in localcluster("env").splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip("'\"")
    return env


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["kubectl", *args], env=env, input=stdin, check=True, text=True, capture_output=True).stdout


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise SystemExit(f"[arks] timed out waiting for {what}; logs are in {RUN / 'logs'}")


def spawn(name: str, argv: list[str], env: dict[str, str]) -> None:
    (RUN / "logs").mkdir(parents=True, exist_ok=True)
    log = (RUN / "logs" / f"{name}.log").open("ab")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (RUN / f"{name}.pid").write_text(str(proc.pid))


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


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
    raise SystemExit(f"[arks] {kind} {name} did not reach {goal}; logs are in {RUN / 'logs'}")


def up() -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    say("starting the local cluster (etcd, kube-apiserver, controller-manager, scheduler, KWOK, LeaderWorkerSet)")
    print(localcluster("up"), end="")
    env = kubectl_env()
    kubectl(env, "apply", "-f", str(ROOT / "deploy" / "crds"))
    kubectl(env, "wait", "--for=condition=Established", "crd/arksapplications.arks.ai", "crd/arksmodels.arks.ai")
    kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump_all(pv_pool(32)))

    if not port_open(NATS_PORT):
        say(f"starting nats-server with JetStream on 127.0.0.1:{NATS_PORT}")
        store = RUN / "nats"
        spawn(
            "nats-server",
            [str(BIN / "nats-server"), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(NATS_PORT)],
            env,
        )
        wait("nats-server", lambda: port_open(NATS_PORT))
    service_env = {
        **env,
        "ARKS_NATS_URL": f"nats://127.0.0.1:{NATS_PORT}",
        "ARKS_KUBECONFIG": env["KUBECONFIG"],
        "ARKS_HTTP_HOST": "127.0.0.1",
        "ARKS_LOG_FORMAT": "console",
    }
    for i, name in enumerate(SERVICES):
        port = 18081 + i
        if ready(port):
            continue
        executable = BIN / f"arks-{name}"
        if not executable.exists():
            say(f"arks-{name} is not built yet; skipping it")
            continue
        spawn(name, [str(executable)], {**service_env, "ARKS_HTTP_PORT": str(port)})
        wait(f"arks-{name} to be ready on :{port}", partial(ready, port))
        say(f"arks-{name} ready (metrics on http://127.0.0.1:{port}/metrics)")

    say("applying the quickstart: ArksModel qwen-7b and the user guide's vLLM application app-qwen-vllm")
    say("(the model-loader creates the claim and the download Job; on fake nodes the Job completes at once)")
    kubectl(env, "apply", "-n", "default", "-f", str(ROOT / "deploy" / "samples" / "quickstart" / "model.yaml"))
    kubectl(env, "apply", "-n", "default", "-f", str(ROOT / "deploy" / "samples" / "application-vllm.yaml"))

    follow_phase(env, "arksmodel", "qwen-7b", "Ready")
    follow_phase(env, "arkapp", "app-qwen-vllm", "Running")
    print(kubectl(env, "get", "arksapplications", "-n", "default"), end="")
    print(kubectl(env, "get", "pods", "-l", "arks.ai/application=app-qwen-vllm", "-n", "default", "-o", "wide"), end="")
    kubeconfig = env["KUBECONFIG"]
    print(
        f"""
Arks is running locally. The pods above run on fake GPU nodes (KWOK): no model is downloaded and no
inference happens. On a real cluster, install the Helm charts in deploy/charts instead.

  export KUBECONFIG={kubeconfig}
  kubectl get arksapplications -o wide
  kubectl describe arkapp app-qwen-vllm
  nats sub 'arks.>' --server nats://127.0.0.1:{NATS_PORT}     # every event on the bus
  logs: {RUN / "logs"}
  make stop                                           # stops everything
"""
    )


def down() -> None:
    for pid_file in sorted(RUN.glob("*.pid")):
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            say(f"stopped {pid_file.stem} (pid {pid})")
        except ProcessLookupError:
            pass
        pid_file.unlink()
    print(localcluster("down"), end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args()
    up() if args.command == "up" else down()


if __name__ == "__main__":
    main()
