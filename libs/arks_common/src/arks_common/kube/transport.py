"""Where the API server is and how to log in to it: an HTTP client ready for `Kube`.

lightkube's config layer (lightkube 1.0.1: `lightkube.config.kubeconfig`, `lightkube.config.client_adapter`) reads
the kubeconfig or the pod's service account and turns its user into auth: a token, a token file re-read when the
server answers 401 (the kubelet rotates a pod's token), an exec plugin, a client certificate; and the cluster's
CA into a TLS context. We take only that; the requests are ours (`client.Kube`), over an httpx2 client whose
limits fit a burst. Importing this costs ~3 MiB of RSS, where kubernetes_asyncio's generated models cost ~65.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx2
import msgspec
import yaml
from lightkube.config.client_adapter import user_auth, verify_cluster
from lightkube.config.kubeconfig import SERVICE_ACCOUNT, KubeConfig, SingleConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ConfigError

MAX_CONNECTIONS = 32
"""Requests in flight to the API server per process, watches included (each holds one: at most 8 per service);
more wait for a free connection. Every idle connection is kept for reuse: a burst then pays no new TLS handshakes.
Not more: the pool looks at every idle connection (a socket probe each) whenever a request starts or ends, and
with 100 that was a fifth of a busy service's CPU (py-spy during `bench.controlplane.burst`)."""

KEEPALIVE_SECONDS = 60.0
"""How long an idle connection is kept (the API server's own idle timeout is 90 s)."""

CONNECT_SECONDS = 10.0
"""Time to open a connection (TCP and TLS) or to wait for a free one from the pool."""


class KubeConfigError(ValueError):
    """No usable configuration: the message says which file or setting is wrong."""


def _first_kubeconfig() -> Path:
    """$KUBECONFIG (its first existing file, when it is a list) or ~/.kube/config, as kubectl looks for it."""
    listed = [Path(p).expanduser() for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    for path in listed:
        if path.is_file():
            return path
    return listed[0] if listed else Path("~/.kube/config").expanduser()


def _in_cluster(service_account: Path) -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (service_account / "token").is_file()


def load_config(kubeconfig: str | None, service_account: str | Path = SERVICE_ACCOUNT) -> SingleConfig:
    """The kubeconfig at `kubeconfig` when given; else the pod's service account when running in a pod; else
    $KUBECONFIG or ~/.kube/config. Its current context is used."""
    account = Path(service_account)
    try:
        if kubeconfig:
            config = KubeConfig.from_file(kubeconfig)
        elif _in_cluster(account):
            config = KubeConfig.from_service_account(account)
        else:
            config = KubeConfig.from_file(_first_kubeconfig())
        single = config.get()
    except (ConfigError, OSError, KeyError, ValueError, TypeError, yaml.YAMLError, msgspec.MsgspecError) as exc:
        # a file that is not YAML, a context or cluster missing, a field of the wrong type: name the file
        where = kubeconfig or ("the service account " + str(account) if _in_cluster(account) else _first_kubeconfig())
        raise KubeConfigError(f"kubeconfig {where}: {type(exc).__name__}: {exc}") from exc
    if single is None:  # not reached: get() raises without a current context
        raise KubeConfigError(f"kubeconfig {kubeconfig or _first_kubeconfig()}: no current context")
    return single


def client_for(config: SingleConfig) -> httpx2.AsyncClient:
    """An HTTP client to `config`'s API server with its user's auth and the cluster's CA. Per-request deadlines
    are set by the caller (`Kube`); the pool and connect limits here."""
    try:
        auth = user_auth(config.user)
        verify = verify_cluster(config.cluster, config.user or User(), config.abs_file, trust_env=False)
    except (ConfigError, OSError, ValueError) as exc:  # a CA or client certificate that cannot be read
        raise KubeConfigError(f"kubeconfig context {config.context_name}: {type(exc).__name__}: {exc}") from exc
    return httpx2.AsyncClient(
        base_url=config.cluster.server,
        auth=auth,
        verify=verify,
        # proxies from the environment are not used, as with the client before (kubernetes_asyncio)
        trust_env=False,
        timeout=httpx2.Timeout(30.0, connect=CONNECT_SECONDS, pool=None),
        limits=httpx2.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_SECONDS,
        ),
    )


async def load_api_client(kubeconfig: str | None, service_account: str | Path = SERVICE_ACCOUNT) -> httpx2.AsyncClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (path, or $KUBECONFIG/~/.kube)."""
    return client_for(load_config(kubeconfig, service_account))
