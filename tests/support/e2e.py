"""End-to-end helpers: the whole Arks system on the local cluster, and small kubectl conveniences."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from arks_common.events import permissions
from arks_common.events.contract import Service
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.resources import APPLICATIONS
from arks_localcluster.cluster import LocalCluster
from arks_localcluster.storage import pv_pool
from support import auth
from support.arks_system import ArksSystem, declare_bus
from support.nats_server import NatsServer

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(check: Callable[[], T | None], within: float = 60.0, what: str = "", interval: float = 0.25) -> T:
    """Polls `check` until it returns something truthy; fails with `what` and the last value at the deadline."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last seen: {last!r}")


class Env:
    """The local cluster, a real nats-server, and the Arks services as processes."""

    def __init__(
        self,
        cluster: LocalCluster,
        nats: NatsServer,
        system: ArksSystem,
        trace_file: Path,
        nats_users: auth.NatsUsers | None = None,
    ) -> None:
        self.nats_users = nats_users
        self.cluster = cluster
        self.nats = nats
        self.system = system
        self.trace_file = trace_file

    def nats_admin(self) -> dict[str, str]:
        """`nats.connect` keyword arguments for the admin user (tests that act on the bus themselves)."""
        assert self.nats_users is not None
        return self.nats_users.options(permissions.ADMIN_USER)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.cluster.kubectl(*args, input=input, check=check).stdout

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        proc = self.cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise AssertionError(proc.stderr)
        obj: dict[str, Any] = json.loads(proc.stdout)
        return obj

    def items(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = json.loads(self.kubectl(*args))["items"]
        return items

    def apply(self, namespace: str, *docs: dict[str, Any]) -> str:
        """Applies the documents into `namespace` (a namespace written in a sample gives way to it)."""
        placed = [{**d, "metadata": {k: v for k, v in d["metadata"].items() if k != "namespace"}} for d in docs]
        return self.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(placed))

    def apply_file(self, namespace: str, path: Path) -> str:
        return self.kubectl("apply", "-n", namespace, "-f", str(path))

    def phase(self, name: str, namespace: str) -> str | None:
        app = self.get("arksapplication", name, namespace)
        return None if app is None else (app.get("status") or {}).get("phase")

    def wait_phase(self, name: str, namespace: str, phase: str, within: float = 90.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            app = self.get("arksapplication", name, namespace)
            status = (app or {}).get("status") or {}
            gen = (app or {}).get("metadata", {}).get("generation")
            return app if status.get("phase") == phase and status.get("observedGeneration") == gen else None

        return wait_until(reached, within, f"{namespace}/{name} to reach {phase}")

    def applications_version(self, namespace: str) -> str:
        """The resourceVersion of the namespace's application list now: `application_history` replays from it. Read
        raw: `kubectl get -o json` prints a List of its own making, whose resourceVersion is empty, and a watch from
        "" starts with the objects as they are now, so none of the versions in between would be replayed."""
        path = f"/apis/arks.ai/v1/namespaces/{namespace}/arksapplications?limit=1"
        listed = json.loads(self.kubectl("get", "--raw", path))
        version = str(listed["metadata"]["resourceVersion"])
        assert version, f"no resourceVersion in the list of {path}"
        return version

    def application_history(
        self, namespace: str, name: str, since: str, until: str, within: float = 30.0
    ) -> list[dict[str, Any]]:
        """Every version of one application the API server stored after resourceVersion `since`, up to the version
        `until`: the API server replays them to a watch started from `since`, so no short-lived one is missed."""

        async def replay() -> list[dict[str, Any]]:
            kube = Kube(await load_api_client(str(self.cluster.kubeconfig)), "e2e-history")
            seen: list[dict[str, Any]] = []
            try:
                async with asyncio.timeout(within):
                    async for kind, obj in kube.watch(APPLICATIONS, since, timeout_seconds=int(within)):
                        meta = obj["metadata"]
                        if kind == "BOOKMARK" or (meta.get("namespace"), meta.get("name")) != (namespace, name):
                            continue
                        seen.append(obj)
                        if meta.get("resourceVersion") == until:
                            return seen
            finally:
                await kube.close()
            raise AssertionError(f"the watch from {since} never reached version {until}; saw {len(seen)} versions")

        return asyncio.run(replay())

    def ready_model(self, namespace: str, model: dict[str, Any], within: float = 90.0) -> dict[str, Any]:
        """Applies a model and waits until the model-loader made it Ready (claim, download Job on KWOK)."""
        self.apply(namespace, model)
        name = model["metadata"]["name"]

        def ready() -> dict[str, Any] | None:
            got = self.get("arksmodel", name, namespace)
            return got if ((got or {}).get("status") or {}).get("phase") == "Ready" else None

        return wait_until(ready, within, f"ArksModel {namespace}/{name} to be Ready")


E2E_POOL_VOLUMES = 256
"""Volumes of each kind (shared, node-bound) the e2e suite's cluster starts with."""


def new_namespace(env: Env) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    env.kubectl("create", "namespace", name)
    yield name
    env.kubectl("delete", "namespace", name, "--wait=false", check=False)


def start_env(cluster: LocalCluster, workdir: Path, tracing: bool = True) -> Iterator[Env]:
    """The services on `cluster`, with their spans in `workdir/traces.jsonl` (`tracing`: the e2e history reads them;
    a benchmark of CPU runs without, as users do by default)."""
    cluster.kubectl("apply", "-f", str(ROOT / "deploy" / "crds"))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/arksapplications.arks.ai",
        "crd/arksmodels.arks.ai",
        "crd/arksendpoints.arks.ai",
    )
    # the pool's volumes are Retained (as a real cluster's often are), so a model's volume is used once: the whole
    # suite's models must fit (64 ran out in the last test file on 2026-12-07, as the models' tests grew)
    cluster.apply(pv_pool(E2E_POOL_VOLUMES))
    # --- issue 6: every service runs as its chart's ServiceAccount (a TokenRequest token) and its own NATS
    # user; the server enforces the generated permissions (support/auth.py, NatsUsers.load for the admin).
    users = auth.NatsUsers.create(workdir / "nats-auth")
    accounts = auth.install_rbac(cluster)
    nats = NatsServer(workdir / "nats", extra_args=users.server_args)
    nats.workdir.mkdir(parents=True)
    nats.start()
    declare_bus(nats.url, users.env(permissions.BOOTSTRAP_USER))
    trace_file = workdir / "traces.jsonl"
    system = ArksSystem(
        nats.url,
        cluster.kubeconfig,
        workdir / "logs",
        {"ARKS_TRACE_EXPORTER": "jsonl", "ARKS_TRACE_FILE": str(trace_file)} if tracing else {},
    )
    for name, process in system.services.items():
        service = Service(name)
        process.env.update(auth.service_env(cluster, service, accounts[service], users, workdir))
    # --- end issue 6
    try:
        system.start()
        yield Env(cluster, nats, system, trace_file, users)
    finally:
        codes = system.stop()
        nats.stop()
    bad = {name: code for name, code in codes.items() if code not in (0, None)}
    if bad:
        pytest.fail(f"services did not stop cleanly on SIGTERM: {bad}; logs in {workdir / 'logs'}")


def event_copy(arks: Env, namespace: str, name: str) -> dict[str, Any]:
    """The application as an event from before any service's write carries it: no status, no finalizer (and, as
    every copy a service keeps, no managedFields)."""
    app = arks.get("arksapplication", name, namespace)
    assert app is not None, f"no application {namespace}/{name}"
    meta = {k: v for k, v in app["metadata"].items() if k not in ("managedFields", "finalizers")}
    return {**app, "metadata": meta, "status": {}}
