"""The Kubernetes client's pure parts: an API refusal becomes the right KubeError, a watch stream splits into its
lines whatever its chunking, and a configuration that cannot be used is a clear error naming the file."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from arks_common.kube.client import Conflict, Gone, Invalid, KubeError, NotFound, lines, refusal
from arks_common.kube.transport import KubeConfigError, client_for, load_config


def _status(code: int, reason: str, message: str) -> bytes:
    return f'{{"kind": "Status", "code": {code}, "reason": "{reason}", "message": "{message}"}}'.encode()


@pytest.mark.parametrize(
    ("code", "kind"), [(404, NotFound), (410, Gone), (409, Conflict), (422, Invalid), (500, KubeError)]
)
def test_a_refusal_is_classed_by_status_with_the_servers_message_and_reason(code: int, kind: type) -> None:
    error = refusal("get Thing ns/a", code, "Phrase", _status(code, "SomeReason", "it says why"), {})
    assert type(error) is kind
    assert (error.status, error.reason, str(error)) == (code, "SomeReason", "get Thing ns/a: it says why")
    assert error.retry_after is None


def test_a_refusal_without_a_status_body_says_the_http_phrase() -> None:
    for body in (b"", b"<html>bad gateway</html>", b'"a string"', b"[1, 2]"):
        error = refusal("list things", 502, "Bad Gateway", body, {})
        assert (str(error), error.status, error.reason, error.temporary) == ("list things: Bad Gateway", 502, "", True)


def test_the_servers_retry_after_is_kept_within_bounds() -> None:
    def after(value: str) -> float | None:
        return refusal("x", 429, "Too Many Requests", b"", {"Retry-After": value}).retry_after

    assert after("3") == 3.0
    assert after("-5") == 0.0
    assert after("99999") == 3600.0
    assert after("Wed, 21 Oct 2026 07:28:00 GMT") is None  # an HTTP-date: the caller's own backoff applies


def test_temporary_errors_are_the_ones_a_retry_can_cure() -> None:
    assert KubeError("unreachable").temporary  # status 0
    assert refusal("x", 409, "Conflict", b"", {}).temporary
    assert refusal("x", 429, "Too Many Requests", b"", {}).temporary
    assert not refusal("x", 403, "Forbidden", b"", {}).temporary
    assert not refusal("x", 422, "Unprocessable Entity", b"", {}).temporary


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=8), st.data())
async def test_a_stream_splits_into_its_lines_however_it_is_chunked(events: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(event + b"\n" for event in events)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    parts = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert [line async for line in lines(_chunks(parts))] == events


async def test_a_cut_last_line_comes_too_for_the_decoder_to_refuse() -> None:
    parts = [b'{"a": 1}\n{"typ', b'e": "ADD']
    assert [line async for line in lines(_chunks(parts))] == [b'{"a": 1}', b'{"type": "ADD']


def _kubeconfig(path: Path, server: str, **user: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_kubeconfig_that_is_not_yaml_is_told_without_quoting_its_lines(tmp_path: Path) -> None:
    """PyYAML's error quotes the offending line, which in a kubeconfig may hold a token: it goes to logs."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("users:\n- name: u\n  user:\n    token: eyJhbGciOi.SECRETPAYLOAD: oops\n")
    with pytest.raises(KubeConfigError) as caught:
        load_config(str(broken))
    message = str(caught.value)
    assert "broken.yaml" in message
    assert "line 4" in message
    assert "SECRETPAYLOAD" not in message


def test_a_kubeconfig_that_cannot_be_used_is_an_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(KubeConfigError, match=r"nowhere\.yaml"):
        load_config(str(missing))
    (tmp_path / "bad.yaml").write_text("clusters: [\n")
    with pytest.raises(KubeConfigError, match=r"bad\.yaml"):
        load_config(str(tmp_path / "bad.yaml"))
    no_context = _kubeconfig(tmp_path / "noctx.yaml", "https://h:6443", token="t")
    no_context.write_text(no_context.read_text().replace("current-context: ctx", "current-context: other"))
    with pytest.raises(KubeConfigError, match=r"noctx\.yaml.*'other' not found"):
        load_config(str(no_context))
    wrong_type = _kubeconfig(tmp_path / "typed.yaml", "https://h:6443", token="t")
    wrong_type.write_text(wrong_type.read_text().replace("token: t", "token: [1, 2]"))
    with pytest.raises(KubeConfigError, match=r"typed\.yaml.*token"):
        load_config(str(wrong_type))


def test_in_a_pod_the_service_account_is_used_with_its_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("a-token")
    (account / "namespace").write_text("arks-system")
    (account / "ca.crt").write_text("CA")
    elsewhere = _kubeconfig(tmp_path / "config", "https://elsewhere:6443", token="other")
    monkeypatch.setenv("KUBECONFIG", str(elsewhere))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    config = load_config(None, account)
    assert config.cluster.server == "https://10.0.0.1:443"
    assert config.cluster.certificate_auth == str(account / "ca.crt")
    assert config.user is not None
    assert config.user.token_file == str(account / "token")  # re-read when the kubelet rotates it
    assert config.namespace == "arks-system"
    # outside a pod: $KUBECONFIG (its first existing file), as kubectl
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{elsewhere}")
    assert load_config(None, account).cluster.server == "https://elsewhere:6443"
    # an explicit kubeconfig wins over both
    explicit = _kubeconfig(tmp_path / "explicit", "https://explicit:6443", token="t")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert load_config(str(explicit), account).cluster.server == "https://explicit:6443"


def test_an_unreadable_ca_is_an_error_naming_the_context(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path / "config", "https://h:6443", token="t")
    config = yaml.safe_load(path.read_text())
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(b"not a certificate").decode()
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(KubeConfigError, match="context ctx"):
        client_for(load_config(str(path)))
