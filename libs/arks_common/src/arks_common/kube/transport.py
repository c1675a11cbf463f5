"""Where the API server is, how to log in to it and how requests travel: an `ApiClient` ready for `Kube`.

lightkube's config layer (lightkube 1.0.1: `lightkube.config.kubeconfig`, `verify_cluster` in
`lightkube.config.client_adapter`) reads the kubeconfig or the pod's service account and turns the cluster's CA
and the user's client certificate into a TLS context; the user's token, token file or exec plugin becomes a
header (`credentials`). The requests go over aiohttp: against the local API server its client spends a quarter
to a third of httpx2's CPU per request (`bench.controlplane.client`), and each Arks service's work per
application is mostly API requests.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec
import yaml
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import SERVICE_ACCOUNT, KubeConfig, SingleConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ConfigError

from arks_common.kube.credentials import Credentials

MAX_CONNECTIONS = 32
"""Requests in flight to the API server per process, watches included (each holds one: at most 8 per service);
more wait for a free connection. Idle connections are kept for reuse: a burst then pays no new TLS handshakes."""

KEEPALIVE_SECONDS = 60.0
"""How long an idle connection is kept (the API server's own idle timeout is 90 s)."""

CONNECT_SECONDS = 10.0
"""Time to open a connection (TCP and TLS)."""

POOL_SECONDS = 30.0
"""A watch's time to get a free connection and open it."""

UNREACHABLE: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)
"""What a request raises when the server was not reached or the connection broke."""

Query = Sequence[tuple[str, str | int]]


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
        raise KubeConfigError(f"kubeconfig {where}: {type(exc).__name__}: {_without_excerpt(exc)}") from exc
    if single is None:  # not reached: get() raises without a current context
        raise KubeConfigError(f"kubeconfig {kubeconfig or _first_kubeconfig()}: no current context")
    return single


def _without_excerpt(exc: BaseException) -> str:
    """A YAML error's text names the line and column only: PyYAML quotes the offending line, which in a kubeconfig
    may be part of a token or a key."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{exc.context or ''} {exc.problem or 'not YAML'}{where}".strip()
    return str(exc)


@dataclass
class Answer:
    """An API server's answer, read whole; `chunks` of a stream that was accepted (status 200), else empty."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None


class ApiClient:
    """Requests to one API server, logged in as one user, over a pool of kept-alive connections. Its aiohttp
    session opens on the first request (inside the event loop that serves it) and closes with `aclose`."""

    def __init__(self, server: str, tls: ssl.SSLContext, credentials: Credentials) -> None:
        self.server = server.rstrip("/")
        self._tls = tls
        self._credentials = credentials
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._tls, limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # proxies from the environment are not used, as with the clients before
                trust_env=False,
                # the caller bounds each exchange; a watch sets its own
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _signed(self, headers: dict[str, str]) -> tuple[str | None, dict[str, str]]:
        """The Authorization header for the next request, and `headers` with it."""
        authorization = await self._credentials.header()
        return authorization, headers if authorization is None else {**headers, "Authorization": authorization}

    async def exchange(
        self, method: str, path: str, query: Query | None, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        """One request, its answer read whole; a 401 is tried once more when the token was renewed meanwhile."""
        for attempt in range(2):
            authorization, sent = await self._signed(headers)
            url = self.server + path
            # a redirect is answered as itself (a refusal), as before: never followed with the token and the body
            request = self._open().request(method, url, params=query, headers=sent, data=body, allow_redirects=False)
            async with request as response:
                answer = Answer(response.status, response.reason or "", response.headers, await response.read())
            if answer.status != 401 or attempt > 0 or not await self._credentials.renew(authorization):
                return answer
        raise AssertionError("not reached: the second attempt returns")

    @asynccontextmanager
    async def stream(self, path: str, query: Query, headers: dict[str, str], silence: float) -> AsyncIterator[Answer]:
        """A GET whose answer is read as it comes (a watch); a stream silent for `silence` seconds breaks."""
        timeout = aiohttp.ClientTimeout(
            total=None, connect=POOL_SECONDS, sock_connect=CONNECT_SECONDS, sock_read=silence
        )
        for attempt in range(2):
            authorization, sent = await self._signed(headers)
            url = self.server + path
            request = self._open().get(url, params=query, headers=sent, timeout=timeout, allow_redirects=False)
            async with request as response:
                if response.status == 401 and attempt == 0 and await self._credentials.renew(authorization):
                    continue
                if response.status != 200:  # a refused watch is a plain Status
                    yield Answer(response.status, response.reason or "", response.headers, await response.read())
                else:
                    yield Answer(200, response.reason or "", response.headers, chunks=response.content.iter_any())
                return


def client_for(config: SingleConfig) -> ApiClient:
    """A client of `config`'s API server with its user's credentials and the cluster's CA. Per-request deadlines
    are set by the caller (`Kube`); the pool and connect limits here."""
    try:
        credentials = Credentials(config.user, lambda path: str(config.abs_file(path)))
        tls = verify_cluster(config.cluster, config.user or User(), config.abs_file, trust_env=False)
    except (ConfigError, OSError, ValueError) as exc:  # a CA or client certificate that cannot be read
        raise KubeConfigError(f"kubeconfig context {config.context_name}: {type(exc).__name__}: {exc}") from exc
    return ApiClient(config.cluster.server, tls, credentials)


async def load_api_client(kubeconfig: str | None, service_account: str | Path = SERVICE_ACCOUNT) -> ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (path, or $KUBECONFIG/~/.kube)."""
    return client_for(load_config(kubeconfig, service_account))
