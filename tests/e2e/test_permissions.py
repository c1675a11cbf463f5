"""Each service is refused what its role does not grant: one Kubernetes action as its chart's ServiceAccount
(a TokenRequest token, as in the rest of the suite) and one NATS subject as its own NATS user.

That the roles and permissions are *enough* is what the rest of the end-to-end suite shows: every service
runs there with exactly these identities.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest
import yaml

from arks_common.bus.bootstrap import differences
from arks_common.events import permissions as perm
from arks_common.events.contract import (
    CONSUMERS,
    DEAD_LETTER_STREAM,
    DEAD_LETTERS,
    OBJECTS,
    OBJECTS_STREAM,
    PLANS,
    PLANS_STREAM,
    ROOT,
    SCALE,
    Service,
    inbox_prefix,
)
from arks_localcluster.cluster import LocalCluster
from support.arks_system import declare_bus
from support.auth import NAMESPACE, NatsUsers, render_rbac, service_account, token_kubeconfig
from support.e2e import Env
from support.nats_server import NatsServer

pytestmark = pytest.mark.cluster

LWS = "leaderworkersets.leaderworkerset.x-k8s.io"
APPS = "arksapplications.arks.ai"

# (verb, resource, subresource): one thing the service needs, and one it must not be able to do.
ALLOWED = {
    Service.WATCHER: ("watch", APPS, ""),
    Service.PLANNER: ("patch", APPS, "status"),
    Service.DEPLOYER: ("patch", LWS, ""),
    Service.MODEL_LOADER: ("create", "jobs.batch", ""),
    Service.SLO_SCALER: ("list", "pods", ""),
}
REFUSED = {
    Service.WATCHER: ("create", APPS, ""),  # it only reads
    Service.PLANNER: ("create", LWS, ""),  # plans are data; the deployer applies them
    Service.DEPLOYER: ("create", "jobs.batch", ""),  # downloads are the model-loader's
    Service.MODEL_LOADER: ("patch", LWS, ""),
    Service.SLO_SCALER: ("patch", LWS, ""),  # it decides; the deployer scales
}
REFUSED_SUBJECT = {
    Service.WATCHER: PLANS.subject("default", "x"),
    Service.PLANNER: SCALE.subject("default", "x"),
    Service.DEPLOYER: OBJECTS.subject("application", "default", "x"),
    Service.MODEL_LOADER: PLANS.subject("default", "x"),
    Service.SLO_SCALER: DEAD_LETTERS.subject("deployer", "deployer-plans"),  # another service's dead letters
}


def kubectl_as(cluster: LocalCluster, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(cluster.bin.kubectl), "--kubeconfig", str(kubeconfig), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def kubeconfigs(arks: Env, tmp_path_factory: pytest.TempPathFactory) -> dict[Service, Path]:
    """A token kubeconfig per service, for the ServiceAccounts the suite's services run as."""
    directory = tmp_path_factory.mktemp("sa-kubeconfigs")
    return {
        s: token_kubeconfig(arks.cluster, service_account(render_rbac(arks.cluster, s)), directory / f"{s.value}.yaml")
        for s in Service
    }


def can_i(cluster: LocalCluster, kubeconfig: Path, verb: str, resource: str, subresource: str) -> str:
    args = ["auth", "can-i", verb, resource, "-n", "default"]
    if subresource:
        args.append(f"--subresource={subresource}")
    return kubectl_as(cluster, kubeconfig, *args).stdout.strip()


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_service_account_is_refused_what_its_role_does_not_grant(
    arks: Env, kubeconfigs: dict[Service, Path], service: Service
) -> None:
    cluster, kubeconfig = arks.cluster, kubeconfigs[service]
    assert can_i(cluster, kubeconfig, *ALLOWED[service]) == "yes", ALLOWED[service]
    assert can_i(cluster, kubeconfig, *REFUSED[service]) == "no", REFUSED[service]
    # And a real request with its token: no Arks service reads Secrets.
    proc = kubectl_as(cluster, kubeconfig, "get", "secrets", "-n", "default")
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("verb", "lease", "namespace", "answer"),
    [
        ("update", "leases/arks-slo-scaler", NAMESPACE, "yes"),
        ("get", "leases/arks-slo-scaler", NAMESPACE, "yes"),
        ("create", "leases", NAMESPACE, "yes"),
        ("update", "leases/kube-scheduler", NAMESPACE, "no"),  # another lease beside its own
        ("update", "leases/kube-scheduler", "kube-system", "no"),  # the cluster's own leader leases
        ("get", "leases/kube-controller-manager", "kube-system", "no"),
        ("create", "leases", "default", "no"),
        ("delete", "leases/arks-slo-scaler", NAMESPACE, "no"),
    ],
)
def test_the_slo_scaler_may_hold_its_own_lease_and_no_other(
    arks: Env, kubeconfigs: dict[Service, Path], verb: str, lease: str, namespace: str, answer: str
) -> None:
    proc = kubectl_as(arks.cluster, kubeconfigs[Service.SLO_SCALER], "auth", "can-i", verb, lease, "-n", namespace)
    assert proc.stdout.strip() == answer, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("verb", "answer"), [("get", "yes"), ("list", "yes"), ("watch", "no"), ("create", "no"), ("patch", "no")]
)
def test_the_model_loader_may_read_storage_classes_and_nothing_more(
    arks: Env, kubeconfigs: dict[Service, Path], verb: str, answer: str
) -> None:
    # to say that an unbound claim's class does not exist (get), or that the cluster has no default class for a
    # claim that names none (list); reads only
    proc = kubectl_as(
        arks.cluster, kubeconfigs[Service.MODEL_LOADER], "auth", "can-i", verb, "storageclasses.storage.k8s.io"
    )
    assert proc.stdout.strip() == answer, proc.stdout + proc.stderr


def test_planner_token_cannot_create_a_leaderworkerset(arks: Env, kubeconfigs: dict[Service, Path], ns: str) -> None:
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "sneaky", "namespace": ns},
        "spec": {
            "leaderWorkerTemplate": {
                "size": 1,
                "workerTemplate": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}},
            }
        },
    }
    proc = subprocess.run(
        [str(arks.cluster.bin.kubectl), "--kubeconfig", str(kubeconfigs[Service.PLANNER]), "create", "-f", "-"],
        input=yaml.safe_dump(lws),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "forbidden" in proc.stderr.lower(), proc.stderr
    assert f"system:serviceaccount:{NAMESPACE}:arks-planner" in proc.stderr
    assert arks.get("leaderworkerset", "sneaky", ns) is None


# ------------------------------------------------------------------------------------------------------ NATS


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatsServer, NatsUsers]]:
    """A nats-server of its own with the generated authorization config (the suite's services use another)."""
    workdir = tmp_path_factory.mktemp("secured-nats")
    users = NatsUsers.create(workdir / "auth")
    server = NatsServer(workdir / "nats", extra_args=users.server_args)
    server.workdir.mkdir(parents=True)
    server.start()
    try:
        yield server, users
    finally:
        server.stop()


async def violations(url: str, users: NatsUsers, service: Service, publish: str, subscribe: str) -> list[str]:
    """The errors the server reports when `user` publishes on `publish` and subscribes to `subscribe`."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    user = perm.nats_user(service)
    nc = await nats.connect(
        url, allow_reconnect=False, error_cb=on_error, inbox_prefix=inbox_prefix(service), **users.options(user)
    )
    try:
        info = await nc.request(f"{perm.JS_API}.INFO", b"", timeout=5)  # what it may do works
        assert b'"type":"io.nats.jetstream.api.v1.account_info_response"' in info.data
        await nc.publish(publish, b"{}")
        await nc.subscribe(subscribe)
        await nc.flush()
        for _ in range(50):
            if len(errors) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
    return errors


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_nats_user_is_refused_subjects_outside_its_permissions(
    secured_nats: tuple[NatsServer, NatsUsers], service: Service
) -> None:
    server, users = secured_nats
    subject = REFUSED_SUBJECT[service]
    assert not perm.may_publish(perm.permissions_of(service), subject)
    everything = f"{ROOT}.>"
    errors = asyncio.run(violations(server.url, users, service, subject, everything))
    assert any("permissions violation for publish" in e.lower() and subject in e for e in errors), errors
    assert any("permissions violation for subscription" in e.lower() and everything in e for e in errors), errors


def test_the_suites_nats_server_refuses_anonymous_clients(arks: Env) -> None:
    async def connect_anonymously() -> None:
        nc = await nats.connect(arks.nats.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=5)
        await nc.close()

    with pytest.raises((nats.errors.Error, OSError)):
        asyncio.run(connect_anonymously())
    for name, process in arks.system.services.items():
        assert process.env["ARKS_NATS_USER"] == perm.nats_user(Service(name))
        assert process.env["ARKS_KUBECONFIG"] != str(arks.cluster.kubeconfig)


async def stream_api_violations(url: str, users: NatsUsers, service: Service, subjects: list[str]) -> list[str]:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        url,
        allow_reconnect=False,
        error_cb=on_error,
        inbox_prefix=inbox_prefix(service),
        **users.options(perm.nats_user(service)),
    )
    try:
        for subject in subjects:
            await nc.publish(subject, b"{}")
        await nc.flush()
        for _ in range(50):
            if len(errors) >= len(subjects):
                break
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
    return errors


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_no_service_may_create_change_or_delete_a_stream(
    secured_nats: tuple[NatsServer, NatsUsers], service: Service
) -> None:
    server, users = secured_nats
    declare_bus(server.url, users.env(perm.BOOTSTRAP_USER))
    subjects = [
        f"{perm.JS_API}.STREAM.CREATE.ARKS_EVIL",
        f"{perm.JS_API}.STREAM.UPDATE.{PLANS_STREAM.name}",
        f"{perm.JS_API}.STREAM.DELETE.{OBJECTS_STREAM.name}",
        f"{perm.JS_API}.CONSUMER.DELETE.{DEAD_LETTER_STREAM.name}.x",
    ]
    errors = asyncio.run(stream_api_violations(server.url, users, service, subjects))
    for subject in subjects:
        assert any(f'permissions violation for publish to "{subject.lower()}"' in e.lower() for e in errors), (
            subject,
            errors,
        )

    async def streams_still_declared() -> list[str]:
        nc = await nats.connect(server.url, allow_reconnect=False, **users.options(perm.ADMIN_USER))
        try:
            return await differences(nc.jetstream(), CONSUMERS)
        finally:
            await nc.close()

    assert asyncio.run(streams_still_declared()) == []
