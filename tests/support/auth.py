"""Makes the end-to-end suite run each service as its chart would: its own ServiceAccount and its own NATS user.

The RBAC comes from `helm template` of the service's chart (so the suite proves the chart's rules are enough),
the token from the TokenRequest API, and the NATS users and permissions from
`arks_common.events.permissions` (so the suite proves those are enough). Nothing here grants more than the
charts and the generated config do; the admin identities are for the tests themselves.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from arks_common.events import permissions
from arks_common.events.contract import Service
from arks_localcluster.cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "deploy" / "charts"
NAMESPACE = "arks-system"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def helm_run(cluster: LocalCluster, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Runs the helm built for the local cluster, against it."""
    cmd = [str(cluster.bin.helm), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=cluster.env(), check=False)


def helm(cluster: LocalCluster, *args: str, timeout: float = 120.0) -> str:
    proc = helm_run(cluster, *args, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def release_name(service: Service) -> str:
    return f"arks-{service.value}"


def render_chart(cluster: LocalCluster, service: Service, *set_args: str) -> list[dict[str, Any]]:
    out = helm(cluster, "template", release_name(service), str(CHARTS / service.value), "-n", NAMESPACE, *set_args)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render_rbac(cluster: LocalCluster, service: Service) -> list[dict[str, Any]]:
    """The chart's ServiceAccount, (Cluster)Roles and bindings, exactly as `helm install` would create them."""
    return [doc for doc in render_chart(cluster, service) if doc["kind"] in RBAC_KINDS]


def service_account(rbac: list[dict[str, Any]]) -> str:
    (name,) = [str(doc["metadata"]["name"]) for doc in rbac if doc["kind"] == "ServiceAccount"]
    return name


def install_rbac(cluster: LocalCluster, services: tuple[Service, ...] = tuple(Service)) -> dict[Service, str]:
    """Applies each chart's RBAC into `arks-system`; returns each service's ServiceAccount name."""
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
    accounts: dict[Service, str] = {}
    for service in services:
        rbac = render_rbac(cluster, service)
        cluster.apply(rbac)
        accounts[service] = service_account(rbac)
    return accounts


def token(cluster: LocalCluster, account: str, duration: str = "24h") -> str:
    """A bound token for the ServiceAccount, from the TokenRequest API (what the kubelet would mount)."""
    return cluster.kubectl("create", "token", account, "-n", NAMESPACE, f"--duration={duration}").stdout.strip()


def token_kubeconfig(cluster: LocalCluster, account: str, path: Path) -> Path:
    """A kubeconfig with the admin kubeconfig's server and CA, and the ServiceAccount's token as the user."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "arks-local", "cluster": server}],
        "users": [{"name": account, "user": {"token": token(cluster, account)}}],
        "contexts": [{"name": account, "context": {"cluster": "arks-local", "user": account, "namespace": NAMESPACE}}],
        "current-context": account,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class NatsUsers:
    """The generated NATS users with fresh passwords, and the server config that enforces their permissions."""

    config_file: Path
    passwords: dict[str, str]

    @classmethod
    def create(cls, directory: Path) -> NatsUsers:
        directory.mkdir(parents=True, exist_ok=True)
        passwords = {user: secrets.token_urlsafe(18) for user in permissions.all_users()}
        config_file = directory / "auth.conf"
        config_file.write_text(permissions.server_authorization(passwords))
        config_file.chmod(0o600)
        (directory / "users.json").write_text(json.dumps(passwords))
        return cls(config_file, passwords)

    @classmethod
    def load(cls, directory: Path) -> NatsUsers:
        """The users a running suite created in `directory` (for tests that need to talk to NATS themselves)."""
        return cls(directory / "auth.conf", json.loads((directory / "users.json").read_text()))

    @property
    def server_args(self) -> list[str]:
        return ["-c", str(self.config_file)]

    def env(self, user: str) -> dict[str, str]:
        return {"ARKS_NATS_USER": user, "ARKS_NATS_PASSWORD": self.passwords[user]}

    def options(self, user: str) -> dict[str, str]:
        """Keyword arguments for `nats.connect`."""
        return {"user": user, "password": self.passwords[user]}


def service_env(
    cluster: LocalCluster, service: Service, account: str, users: NatsUsers, workdir: Path
) -> dict[str, str]:
    """The environment that makes a local service process run as its chart's ServiceAccount and NATS user."""
    kubeconfig = token_kubeconfig(cluster, account, workdir / "kubeconfigs" / f"{service.value}.yaml")
    env = {"ARKS_KUBECONFIG": str(kubeconfig), **users.env(permissions.nats_user(service))}
    # in a pod the chart sets it to the pod's namespace, where its Role lets it hold Leases
    env["ARKS_LEASE_NAMESPACE"] = NAMESPACE
    return env
