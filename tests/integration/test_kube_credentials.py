"""The client's login against a real HTTP server that checks the `Authorization` header as the API server does: a
rotated token file is read again after a 401, an exec plugin runs once when first needed (by a burst) and again
when its token expires or is refused, and a user the client cannot log in as is an error naming why."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from arks_common.kube import credentials
from arks_common.kube.client import Kube, KubeError
from arks_common.kube.resources import SERVICES
from arks_common.kube.transport import KubeConfigError, client_for, load_config
from support.http import serving


class ApiServer:
    """Answers every GET with an empty object when the header is one it accepts, else 401; counts what it saw."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        if request.path.startswith("/moved"):  # a proxy's redirect to its login page, say
            raise web.HTTPFound("/login")
        header = request.headers.get("Authorization", "")
        self.seen.append(header)
        if header not in self.accepted:
            return web.json_response({"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401)
        return web.json_response({"metadata": {"name": "x"}})


@pytest.fixture
async def server() -> AsyncIterator[tuple[ApiServer, str]]:
    api = ApiServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", api.handle)
    async with serving(app) as url:
        yield api, url


def _kube(tmp_path: Path, server: str, user: dict[str, Any], prefix: str = "") -> Kube:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server + prefix}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return Kube(client_for(load_config(str(path))), "test")


async def test_a_rotated_token_file_is_read_again_after_a_refusal(
    tmp_path: Path, server: tuple[ApiServer, str]
) -> None:
    api, url = server
    token = tmp_path / "token"
    token.write_text("first\n")
    api.accepted = {"Bearer first"}
    kube = _kube(tmp_path, url, {"tokenFile": "token"})  # relative: to the kubeconfig's directory, as kubectl
    try:
        assert await kube.get(SERVICES, "ns", "x") is not None
        token.write_text("second\n")  # the kubelet rotates it; the server soon accepts only the new one
        api.accepted = {"Bearer second"}
        api.seen.clear()
        answers = await asyncio.gather(*(kube.get(SERVICES, "ns", "x") for _ in range(8)))
        assert all(answer is not None for answer in answers)
        assert api.seen.count("Bearer second") == 8  # each refused request sent again with the new token
        # a token that is refused and not rotated: the 401 is the caller's, after one look at the file
        api.accepted = set()
        with pytest.raises(KubeError) as refused:
            await kube.get(SERVICES, "ns", "x")
        assert refused.value.status == 401
    finally:
        await kube.close()


def _plugin(tmp_path: Path, expires: str | None) -> dict[str, Any]:
    """An exec plugin that answers token-1, token-2, ... (one more each run), with `expires` as its expiry."""
    script = tmp_path / "plugin.py"
    runs = tmp_path / "runs"
    status: dict[str, Any] = {}
    if expires:
        status["expirationTimestamp"] = expires
    script.write_text(
        "import json, os, pathlib, sys\n"
        f"runs = pathlib.Path({str(runs)!r})\n"
        "n = int(runs.read_text()) + 1 if runs.exists() else 1\n"
        "runs.write_text(str(n))\n"
        "assert json.loads(os.environ['KUBERNETES_EXEC_INFO'])['kind'] == 'ExecCredential'\n"
        f"status = {status!r}\n"
        "status['token'] = f'token-{n}'\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        " 'status': status}))\n"
    )
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script)],
            "interactiveMode": "Never",
        }
    }


def _script_plugin(script: Path) -> dict[str, Any]:
    """An exec plugin that runs `script` with this Python."""
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(script)]}}


async def _refused(kube: Kube, match: str) -> None:
    """The client's first request fails with an error matching `match` (within 20 s); the client is closed."""
    try:
        with pytest.raises(KubeError, match=match):
            await asyncio.wait_for(kube.get(SERVICES, "ns", "x"), 20)
    finally:
        await kube.close()


def _runs(tmp_path: Path) -> int:
    return int((tmp_path / "runs").read_text())


async def test_an_exec_plugin_runs_when_first_needed_and_again_when_its_token_is_refused(
    tmp_path: Path, server: tuple[ApiServer, str]
) -> None:
    api, url = server
    api.accepted = {"Bearer token-1"}
    kube = _kube(tmp_path, url, _plugin(tmp_path, expires="2999-01-01T00:00:00Z"))
    try:
        await asyncio.gather(*(kube.get(SERVICES, "ns", "x") for _ in range(5)))
        assert _runs(tmp_path) == 1  # five requests, one run
        api.accepted = {"Bearer token-2"}  # the old token is revoked
        await asyncio.gather(*(kube.get(SERVICES, "ns", "x") for _ in range(5)))
        assert _runs(tmp_path) == 2
    finally:
        await kube.close()


async def test_an_exec_plugins_expired_token_is_renewed_before_it_is_sent(
    tmp_path: Path, server: tuple[ApiServer, str]
) -> None:
    api, url = server
    api.accepted = {f"Bearer token-{n}" for n in range(1, 10)}
    kube = _kube(tmp_path, url, _plugin(tmp_path, expires="2020-01-01T00:00:00Z"))
    try:
        for _ in range(3):
            await kube.get(SERVICES, "ns", "x")
        assert api.seen == ["Bearer token-1", "Bearer token-2", "Bearer token-3"]  # no request sent a stale one
        # a burst waiting on one renewal uses its token, already expired or not: the plugin runs once for them
        await asyncio.gather(*(kube.get(SERVICES, "ns", "x") for _ in range(6)))
        assert _runs(tmp_path) == 4
    finally:
        await kube.close()


async def test_an_exec_plugin_that_hangs_is_killed_and_named(
    tmp_path: Path, server: tuple[ApiServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = server
    monkeypatch.setattr(credentials, "EXEC_SECONDS", 0.5)
    script = tmp_path / "hangs.py"
    pid_file = tmp_path / "pid"
    script.write_text(
        f"import os, pathlib, time\npathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\ntime.sleep(60)\n"
    )
    await _refused(_kube(tmp_path, url, _script_plugin(script)), r"no answer within 0\.5 s")
    assert _gone(pid_file)  # killed and reaped, not left behind


def _gone(pid_file: Path) -> bool:
    return not Path(f"/proc/{int(pid_file.read_text())}").exists()


async def test_an_oversized_credential_is_refused_by_name_without_being_held(
    tmp_path: Path, server: tuple[ApiServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = server
    monkeypatch.setattr(credentials, "MAX_CREDENTIAL_BYTES", 300_000)  # past the pipe's 128 KiB pause point
    (tmp_path / "token").write_bytes(b"t" * 300_001)
    # a plugin that would write without end (and fill its stderr pipe too, were it not drained)
    script = tmp_path / "floods.py"
    pid_file = tmp_path / "pid"
    script.write_text(
        f"import os, pathlib, sys\npathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "sys.stderr.write('e' * 200000)\nsys.stderr.flush()\n"
        "while True:\n    sys.stdout.write('x' * 65536)\n"
    )
    for user, said in (
        ({"tokenFile": "token"}, "token file .*token: over 300000 bytes, not a token"),
        (_script_plugin(script), r"exec plugin .*: its answer is over 300000 bytes"),
    ):
        await _refused(_kube(tmp_path, url, user), said)
    assert _gone(pid_file)  # killed and reaped


async def test_an_answer_nested_past_the_parser_is_not_an_exec_credential(
    tmp_path: Path, server: tuple[ApiServer, str]
) -> None:
    _, url = server
    script = tmp_path / "nested.py"
    script.write_text("print('[' * 200000)\n")  # far under the size limit, far over the JSON parser's depth
    await _refused(_kube(tmp_path, url, _script_plugin(script)), "not an ExecCredential: RecursionError")


async def test_a_redirect_is_an_answer_not_followed(tmp_path: Path, server: tuple[ApiServer, str]) -> None:
    api, url = server
    api.accepted = {"Bearer fixed"}
    kube = _kube(tmp_path, url, {"token": "fixed"}, prefix="/moved")
    try:
        with pytest.raises(KubeError) as refused:
            await kube.get(SERVICES, "ns", "x")
        assert refused.value.status == 302
        assert api.seen == []  # the token went nowhere else
    finally:
        await kube.close()


async def test_a_failing_exec_plugin_is_an_api_error_naming_it(tmp_path: Path, server: tuple[ApiServer, str]) -> None:
    _, url = server
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "false"}}
    await _refused(_kube(tmp_path, url, user), "exec plugin false exited with 1")


async def test_a_static_token_and_a_password_are_sent_as_is(tmp_path: Path, server: tuple[ApiServer, str]) -> None:
    api, url = server
    api.accepted = {"Bearer fixed", "Basic YWRtaW46c2VjcmV0"}  # admin:secret
    # a YAML block's last newline is not part of the token
    for user in ({"token": "fixed\n"}, {"username": "admin", "password": "secret"}):
        kube = _kube(tmp_path, url, user)
        try:
            assert await kube.get(SERVICES, "ns", "x") is not None
        finally:
            await kube.close()


def test_a_user_the_client_cannot_log_in_as_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="auth-provider is not supported"):
        _kube(tmp_path, "https://h:6443", {"auth-provider": {"name": "oidc"}})
    plugin = {"exec": {"apiVersion": "client.authentication.k8s.io/v2", "command": "x"}}
    with pytest.raises(KubeConfigError, match=r"apiVersion client.authentication.k8s.io/v2 is not supported"):
        _kube(tmp_path, "https://h:6443", plugin)
    for token in ("two\nlines", "caf\u00e9"):
        with pytest.raises(KubeConfigError, match="token is empty or holds a control or non-ASCII character"):
            _kube(tmp_path, "https://h:6443", {"token": token})


async def test_no_header_at_all_for_a_user_known_by_certificate(tmp_path: Path, server: tuple[ApiServer, str]) -> None:
    api, url = server
    api.accepted = {""}
    kube = _kube(tmp_path, url, {})
    try:
        assert await kube.get(SERVICES, "ns", "x") is not None
        assert api.seen == [""]
    finally:
        await kube.close()
