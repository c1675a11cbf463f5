"""Who the client is to the API server: the `Authorization` header for a kubeconfig user, renewed after a 401.

The kinds kubectl's users have (the kubeconfig fields as lightkube's config layer reads them, lightkube 1.0.1
`lightkube.config.models.User`): a bearer token; a token file, re-read when the server answers 401 (the kubelet
rotates a pod's service-account token); an exec plugin (`client.authentication.k8s.io` v1 / v1beta1 /
v1alpha1 ExecCredential), run again on a 401 or when its token's `expirationTimestamp` has passed; a username and
password. A client certificate is not a header: it sits in the TLS context (`transport`). An `auth-provider`
(client-go 1.26 dropped its gcp and azure ones for exec plugins) and an exec plugin that answers with a
certificate instead of a token are refused by name.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
import os
from collections.abc import Awaitable, Callable

from lightkube.config.models import User, UserExec
from lightkube.core.exceptions import ConfigError

EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
    "client.authentication.k8s.io/v1alpha1",
)
EXEC_SECONDS = 30.0
"""An exec plugin's time to answer (it may ask a cloud's token service); after it, it is killed."""
EXPIRY_MARGIN = datetime.timedelta(seconds=10)
"""An exec plugin's token this close to its expiry is renewed before it is sent."""
MAX_CREDENTIAL_BYTES = 1 << 20
"""The most of a token file or of an exec plugin's answer read: a token is a few KiB (Go's HTTP server refuses
request headers over 1 MiB), so more is a wrong file or a broken plugin, refused by name rather than held."""
REAP_SECONDS = 5.0
"""How long a killed plugin's pipes are read to their end before it is left to the system."""
STDERR_TAIL = 500
"""The characters of a failing plugin's stderr its error quotes (the end, where the reason usually is)."""


class Credentials:
    """The `Authorization` header to send (None: the user has none, or is known by its client certificate)."""

    def __init__(self, user: User | None, abs_file: Callable[[str], str] = str) -> None:
        """`abs_file` resolves a path the kubeconfig names against the kubeconfig's own directory, as kubectl does."""
        self._renew: Callable[[], Awaitable[str]] | None = None
        self._header: str | None = None
        self._expires: datetime.datetime | None = None
        self._renewals = 0
        self._lock = asyncio.Lock()
        if user is None:
            return
        if user.token_file is not None:
            token_file = abs_file(user.token_file)
            self._renew = lambda: asyncio.to_thread(_read_token_file, token_file)
        elif user.token is not None:
            self._header = _bearer(user.token, "the kubeconfig's token")
        elif user.exec is not None:
            self._check_exec(user.exec)
            plugin = user.exec
            # a command with a path is the kubeconfig's relative path; a bare name is looked up on $PATH
            command = abs_file(plugin.command) if os.sep in plugin.command else plugin.command
            self._renew = lambda: self._run_exec(plugin, command)
        elif user.username and user.password:
            pair = base64.b64encode(f"{user.username}:{user.password}".encode()).decode()
            self._header = f"Basic {pair}"
        elif user.auth_provider:
            raise ConfigError("auth-provider is not supported: use an exec plugin (as client-go 1.26 asks)")

    async def header(self) -> str | None:
        """The header for the next request: read (the file) or fetched (the plugin) the first time it is needed."""
        if self._renew is not None and (self._header is None or self._expired()):
            await self.renew(self._header)
        return self._header

    async def renew(self, refused: str | None) -> bool:
        """After the server refused `refused` (401), or when it is missing or expired: read the token again. True
        when there is a different header to try. A renewal made by a concurrent request meanwhile counts, so a
        burst of 401s or of expired requests reads the token or runs the plugin once."""
        if self._renew is None:
            return False
        seen = self._renewals
        async with self._lock:
            stale = self._header == refused or self._expired()
            if stale and self._renewals == seen:
                self._header = await self._renew()
                self._renewals += 1
        return self._header != refused

    def _expired(self) -> bool:
        now = datetime.datetime.now(datetime.UTC)
        return self._expires is not None and now >= self._expires - EXPIRY_MARGIN

    @staticmethod
    def _check_exec(plugin: UserExec) -> None:
        if plugin.apiVersion not in EXEC_API_VERSIONS:
            raise ConfigError(f"exec plugin {plugin.command}: apiVersion {plugin.apiVersion} is not supported")

    async def _run_exec(self, plugin: UserExec, command: str) -> str:
        env = dict(os.environ)
        env.update((var.name, var.value) for var in plugin.env or [])
        # kubectl tells the plugin which version of ExecCredential it reads
        env["KUBERNETES_EXEC_INFO"] = json.dumps(
            {"apiVersion": plugin.apiVersion, "kind": "ExecCredential", "spec": {"interactive": False}}
        )
        try:
            process = await asyncio.create_subprocess_exec(
                command,
                *(plugin.args or []),
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ConfigError(f"exec plugin {plugin.command}: {exc}") from exc
        stdout, stderr = process.stdout, process.stderr
        if stdout is None or stderr is None:  # both are pipes (above): only for the type checker
            raise ConfigError(f"exec plugin {plugin.command}: no pipes to read")
        head, tail = asyncio.ensure_future(_head(stdout)), asyncio.ensure_future(_tail(stderr))
        try:
            async with asyncio.timeout(EXEC_SECONDS):
                out, err = await head, await tail
                await process.wait()
        except BaseException as exc:  # no answer in time, too long a one, or the request waiting was cancelled
            await asyncio.shield(_reap(process, head, tail))
            if isinstance(exc, TimeoutError):
                raise ConfigError(f"exec plugin {plugin.command}: no answer within {EXEC_SECONDS:g} s") from exc
            if isinstance(exc, _TooLong):
                raise ConfigError(
                    f"exec plugin {plugin.command}: its answer is over {MAX_CREDENTIAL_BYTES} bytes"
                ) from exc
            raise
        if process.returncode != 0:
            said = err.decode(errors="replace").strip()[-STDERR_TAIL:]
            raise ConfigError(f"exec plugin {plugin.command} exited with {process.returncode}: {said}")
        try:
            status = json.loads(out)["status"]
            token = status.get("token")
            expires = status.get("expirationTimestamp")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # nested past the parser
            raise ConfigError(f"exec plugin {plugin.command}: not an ExecCredential: {exc!r}") from exc
        if not isinstance(token, str) or not token:
            raise ConfigError(f"exec plugin {plugin.command}: no token in its answer (certificates are not supported)")
        self._expires = _timestamp(expires)
        return _bearer(token, f"exec plugin {plugin.command}")


class _TooLong(Exception):
    """More than `MAX_CREDENTIAL_BYTES` where a credential was expected."""


async def _head(stream: asyncio.StreamReader) -> bytes:
    """All of a plugin's stdout, refused past `MAX_CREDENTIAL_BYTES` without holding more."""
    data = bytearray()
    while chunk := await stream.read(65536):
        data += chunk
        if len(data) > MAX_CREDENTIAL_BYTES:
            raise _TooLong
    return bytes(data)


async def _tail(stream: asyncio.StreamReader) -> bytes:
    """The end of a plugin's pipe, read to its close so that the plugin never blocks on a full pipe (stderr, and
    both pipes of a plugin given up on)."""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-4 * STDERR_TAIL :]
    return kept


async def _reap(process: asyncio.subprocess.Process, *readers: asyncio.Future[bytes]) -> None:
    """Kill a plugin given up on and wait for it. Its pipes are read to their end meanwhile: a pipe left unread
    past its buffer stops reading, and the wait would never see it close. A pipe still held open after
    `REAP_SECONDS` (by a child of the plugin, say) is left behind rather than waited on for ever."""
    process.kill()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(REAP_SECONDS):
            pipes = [pipe for pipe in (process.stdout, process.stderr) if pipe is not None]
            await asyncio.gather(*(_tail(pipe) for pipe in pipes), process.wait())


def _read_token_file(path: str) -> str:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CREDENTIAL_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"token file {path}: {exc}") from exc
    if len(data) > MAX_CREDENTIAL_BYTES:
        raise ConfigError(f"token file {path}: over {MAX_CREDENTIAL_BYTES} bytes, not a token")
    return _bearer(data.decode(errors="replace"), f"token file {path}")


def _bearer(token: str, source: str) -> str:
    """The header for `token`, its surrounding whitespace dropped (a file's or a YAML block's last newline); a
    token with a control or non-ASCII character left inside cannot be a header and is refused naming its source."""
    token = token.strip()
    if not token or not token.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
        raise ConfigError(f"{source}: the token is empty or holds a control or non-ASCII character")
    return f"Bearer {token}"


def _timestamp(value: object) -> datetime.datetime | None:
    """An RFC 3339 time as the plugin writes it (`2026-12-06T10:00:00Z`); None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
