"""The Kubernetes client's login and errors against the real API server: in a pod it logs in with the service
account's token file and CA, and re-reads a token the kubelet rotated once the old one is refused; an API server
that is away, a vanished object, a stale write, and an invalid object each raise their own error;
a watch streams each change and ends with the server's timeout."""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from arks_common.kube.client import Conflict, Invalid, Kube, KubeError, load_api_client
from arks_common.kube.resources import Resource
from arks_localcluster.cluster import LocalCluster
from support.e2e import wait_until

pytestmark = pytest.mark.cluster

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")


@pytest.fixture
def namespace(local_cluster: LocalCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    local_cluster.kubectl("create", "namespace", name)
    yield name
    local_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _server(cluster: LocalCluster) -> str:
    return str(yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"])


def _reader(cluster: LocalCluster, namespace: str) -> None:
    """A ServiceAccount that may read ConfigMaps of `namespace`, two Secrets to bind its tokens to, a ConfigMap."""
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
    meta = {"name": "reader", "namespace": namespace}
    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": [rule]},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
            },
            *(
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}}
                for name in ("token-a", "token-b")
            ),
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": namespace}},
        ]
    )


def _bound_token(cluster: LocalCluster, namespace: str, secret: str) -> str:
    """A token of `reader` valid while `secret` exists: deleting the Secret revokes it (as a pod's token dies with
    its pod)."""
    args = ("create", "token", "reader", "-n", namespace, "--bound-object-kind=Secret")
    return cluster.kubectl(*args, f"--bound-object-name={secret}").stdout.strip()


def _refused(cluster: LocalCluster, token: str, namespace: str) -> bool:
    """Whether the API server refuses `token` now (it caches accepted tokens for a few seconds)."""
    cmd = [str(cluster.bin.kubectl), "--server", _server(cluster), "--certificate-authority", str(cluster.ca_file)]
    cmd += ["--token", token, "-n", namespace, "get", "configmap", "probe"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False, env={})
    return proc.returncode != 0 and "Unauthorized" in proc.stderr


async def test_in_a_pod_it_logs_in_as_the_service_account_and_rereads_a_rotated_token(
    local_cluster: LocalCluster, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reader(local_cluster, namespace)
    account = tmp_path / "serviceaccount"  # what the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount
    account.mkdir()
    (account / "token").write_text(_bound_token(local_cluster, namespace, "token-a"))
    (account / "ca.crt").write_bytes(local_cluster.ca_file.read_bytes())
    (account / "namespace").write_text(namespace)
    host, port = _server(local_cluster).removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))  # in a pod there is none: the account must be used

    kube = Kube(await load_api_client(None, account), "arks-test")
    try:
        probe = await kube.get(CONFIGMAPS, namespace, "probe")
        assert probe is not None
        assert probe["metadata"]["name"] == "probe"
        with pytest.raises(KubeError) as forbidden:  # logged in as the account, not as anyone more powerful
            await kube.get(CONFIGMAPS, "default", "kube-root-ca.crt")
        assert forbidden.value.status == 403

        # the kubelet rotates the token: a new one in the file, the old one soon refused
        old = (account / "token").read_text()
        (account / "token").write_text(_bound_token(local_cluster, namespace, "token-b"))
        local_cluster.kubectl("delete", "secret", "token-a", "-n", namespace)
        wait_until(lambda: _refused(local_cluster, old, namespace) or None, 60, "the old token refused")

        again = await kube.get(CONFIGMAPS, namespace, "probe")  # 401 with the old token, then the file re-read
        assert again is not None
        assert again["metadata"]["uid"] == probe["metadata"]["uid"]
    finally:
        await kube.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_each_failure_raises_its_own_error(local_cluster: LocalCluster, namespace: str, tmp_path: Path) -> None:
    # an API server that is away: status 0, temporary
    config = yaml.safe_load(local_cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{_free_port()}"
    away_path = tmp_path / "away.yaml"
    away_path.write_text(yaml.safe_dump(config))
    away = Kube(await load_api_client(str(away_path)), "arks-test")
    try:
        with pytest.raises(KubeError) as unreachable:
            await away.get(CONFIGMAPS, namespace, "probe")
        assert (unreachable.value.status, unreachable.value.temporary) == (0, True)
        with pytest.raises(KubeError) as no_watch:
            async for _ in away.watch(CONFIGMAPS, "0", 5):
                pass
        assert no_watch.value.status == 0
    finally:
        await away.close()

    kube = Kube(await load_api_client(str(local_cluster.kubeconfig)), "arks-test")
    try:
        assert await kube.get(CONFIGMAPS, namespace, "absent") is None
        assert await kube.delete(CONFIGMAPS, namespace, "absent") is False

        created = await kube.create(CONFIGMAPS, namespace, _configmap(namespace, "cm", "1"))
        await kube.merge_patch(CONFIGMAPS, namespace, "cm", {"data": {"v": "2"}})
        stale = _configmap(namespace, "cm", "3")
        stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
        with pytest.raises(Conflict) as conflict:
            await kube.replace(CONFIGMAPS, stale)
        assert (conflict.value.status, conflict.value.reason, conflict.value.temporary) == (409, "Conflict", True)
        with pytest.raises(Conflict):  # a namesake's uid: the precondition refuses
            await kube.delete(CONFIGMAPS, namespace, "cm", uid=str(uuid.uuid4()))

        with pytest.raises(Invalid) as invalid:
            await kube.create(CONFIGMAPS, namespace, _configmap(namespace, "Not_A_Name", "1"))
        assert invalid.value.status == 422
        assert "metadata.name" in str(invalid.value)

        # a watch streams each change, line by line, and ends when the server's timeout is up
        current = await kube.get(CONFIGMAPS, namespace, "cm")
        assert current is not None
        await kube.merge_patch(CONFIGMAPS, namespace, "cm", {"data": {"v": "4"}})
        events = [(kind, obj) async for kind, obj in kube.watch(CONFIGMAPS, current["metadata"]["resourceVersion"], 2)]
        ours = [(kind, obj) for kind, obj in events if obj["metadata"].get("namespace") == namespace]
        changes = [(kind, obj["data"]["v"]) for kind, obj in ours if obj["metadata"].get("name") == "cm"]
        assert changes == [("MODIFIED", "4")]
        assert await kube.delete(CONFIGMAPS, namespace, "cm", uid=created["metadata"]["uid"]) is True
    finally:
        await kube.close()


def _configmap(namespace: str, name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"v": value},
    }
