"""Each image `make images` built runs as its chart runs it (read-only, uid 65532, no capabilities), with its
chart's RBAC and its own NATS user, against a real nats-server and the local cluster: it becomes ready, and it
stops within 5 s of SIGTERM — when all is well, when NATS went away while it ran, and while it still waits for
a NATS that is not there. The downloader image answers --version and downloads from a local Hub. The router image
serves an OpenAI request by its model from a runtime emulator, as an ArksEndpoint's router does."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arks_common.api import RouterPolicy
from arks_common.events import permissions
from arks_common.events.contract import Service
from arks_localcluster.cluster import LocalCluster
from arks_planner.core.endpoint import discovery_manifest, policy_args
from support import auth
from support.arks_system import declare_bus
from support.e2e import wait_until
from support.emulator import Emulator
from support.fake_hub import FakeHub
from support.images import NONROOT, RUN_FLAGS, Container, image_exists, image_refs, podman, readable_by_nonroot
from support.nats_server import NatsServer

PROMPT_SECONDS = 5.0
REFS = image_refs(os.environ.get("ARKS_IMAGES_TAG"))  # another tag: an older build, side by side
KUBECONFIG_IN_IMAGE = "/etc/arks/kubeconfig"


@dataclass
class World:
    cluster: LocalCluster
    nats: NatsServer
    users: auth.NatsUsers
    accounts: dict[Service, str]
    workdir: Path


@pytest.fixture(scope="module")
def world(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("images")
    local_cluster.kubectl("apply", "-f", str(auth.ROOT / "deploy" / "crds"))
    users = auth.NatsUsers.create(workdir / "nats-auth")
    accounts = auth.install_rbac(local_cluster)
    nats = NatsServer(workdir / "nats", extra_args=users.server_args)
    nats.workdir.mkdir(parents=True)
    nats.start()
    declare_bus(nats.url, users.env(permissions.BOOTSTRAP_USER))
    try:
        yield World(local_cluster, nats, users, accounts, workdir)
    finally:
        nats.stop()


def _built(name: str) -> str:
    ref = REFS[name]
    if not image_exists(ref):
        pytest.fail(f"{ref} is not built; run `make images` (make image-test does)")
    return ref


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _container(world: World, service: Service, nats_url: str) -> Container:
    """The image with the environment the end-to-end suite gives the same service as a process."""
    env = auth.service_env(world.cluster, service, world.accounts[service], world.users, world.workdir)
    kubeconfig = readable_by_nonroot(Path(env["ARKS_KUBECONFIG"]), world.workdir / "mounts" / service.value)
    port = _free_port()
    env |= {
        "ARKS_KUBECONFIG": KUBECONFIG_IN_IMAGE,
        "ARKS_NATS_URL": nats_url,
        "ARKS_HTTP_HOST": "127.0.0.1",
        "ARKS_HTTP_PORT": str(port),
    }
    return Container(_built(service.value), env, {kubeconfig: KUBECONFIG_IN_IMAGE}, port)


@pytest.fixture
def started(world: World) -> Iterator[list[Container]]:
    """Containers a test started; removed (and NATS back up) whatever happened."""
    containers: list[Container] = []
    try:
        yield containers
    finally:
        for container in containers:
            container.remove()
        if not world.nats.running():
            world.nats.start()


def _stops_promptly(container: Container) -> None:
    code, seconds = container.sigterm(within=PROMPT_SECONDS)
    assert code is not None, f"{container.ref} still ran {PROMPT_SECONDS}s after SIGTERM:\n{container.logs()[-2000:]}"
    assert code == 0, f"{container.ref} exited with {code} after SIGTERM:\n{container.logs()[-2000:]}"
    assert seconds < PROMPT_SECONDS


def _ready(container: Container) -> None:
    wait_until(lambda: container.answers("/readyz"), 60, f"{container.ref} to be ready")


@pytest.mark.parametrize("service", list(Service), ids=lambda s: s.value)
def test_the_image_becomes_ready_and_stops_at_once(world: World, started: list[Container], service: Service) -> None:
    container = _container(world, service, world.nats.url)
    started.append(container)
    container.start()
    _ready(container)
    _stops_promptly(container)


@pytest.mark.parametrize("service", list(Service), ids=lambda s: s.value)
def test_the_image_stops_at_once_when_nats_went_away(world: World, started: list[Container], service: Service) -> None:
    container = _container(world, service, world.nats.url)
    started.append(container)
    container.start()
    _ready(container)
    world.nats.kill9()
    wait_until(lambda: "nats disconnected" in container.logs(), 30, f"{container.ref} to see NATS go")
    _stops_promptly(container)


@pytest.mark.parametrize("service", list(Service), ids=lambda s: s.value)
def test_the_image_stops_at_once_while_waiting_for_nats(
    world: World, started: list[Container], service: Service
) -> None:
    container = _container(world, service, f"nats://127.0.0.1:{_free_port()}")  # nothing listens there
    started.append(container)
    container.start()
    wait_until(lambda: "Connect call failed" in container.logs(), 60, f"{container.ref} to try NATS and fail")
    assert not container.answers("/readyz")
    _stops_promptly(container)


def test_the_downloader_image_answers_its_version() -> None:
    ref = _built("model-downloader")
    proc = podman("run", "--rm", *RUN_FLAGS, ref, "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"arks-model-download {ref.rsplit(':', 1)[1]}"


def test_the_downloader_image_downloads_a_repository_into_the_model_volume(tmp_path: Path) -> None:
    """As an ArksModel's download Job runs it: uid 65532, read-only root, the model volume its only write."""
    files = {"config.json": b'{"model_type": "llama"}', "model.safetensors": os.urandom(64 * 1024 + 3)}
    hub = FakeHub()
    hub.add_repo("arks-test/tiny-llm", files)
    hub.start()
    models = tmp_path / "models"
    models.mkdir()
    os.chown(models, NONROOT, NONROOT)  # the Job's fsGroup makes the volume the image user's
    try:
        proc = podman(
            "run", "--rm", *RUN_FLAGS, "--env", f"HF_ENDPOINT={hub.url}", "--volume", f"{models}:/models",
            _built("model-downloader"), "--model", "arks-test/tiny-llm", "--termination-log", "/tmp/termination-log",
            timeout=120,
        )  # fmt: skip
    finally:
        hub.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, data in files.items():
        assert (models / "arks-test" / "tiny-llm" / name).read_bytes() == data


def test_the_router_image_serves_a_model_from_its_workers(tmp_path: Path) -> None:
    """smg as the planner runs it (`smg launch`, routing by model, load-aware) with one emulator as its worker."""
    emulator = Emulator(tmp_path / "emulator", 1, ["--served-model-name", "model-a"])
    emulator.start()
    workers = _write(tmp_path / "workers.json", discovery_manifest([emulator.url]))
    manifest = readable_by_nonroot(workers, tmp_path / "mounted")
    port = _free_port()
    name = f"arks-test-router-{port}"
    args = ["launch", *policy_args(RouterPolicy.POWER_OF_TWO), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--health-check-port", str(_free_port()), "--prometheus-port", str(_free_port())]
    args += ["--discovery-provider", "file", "--discovery-file", "/etc/arks/workers.json"]
    try:
        proc = podman(
            "run", "--detach", "--name", name, *RUN_FLAGS, "--volume", f"{manifest}:/etc/arks/workers.json:ro",
            _built("router"), *args,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr

        def answered() -> int | None:
            body = json.dumps({"model": "model-a", "prompt": "hello", "max_tokens": 4}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/completions", body, {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:
                    return int(resp.status)
            except (urllib.error.URLError, ConnectionError):
                return None

        wait_until(lambda: answered() == 200, 60, f"the router image to serve model-a; logs: {_logs(name)}")
    finally:
        podman("rm", "--force", name)
        emulator.stop()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _logs(name: str) -> str:
    return podman("logs", name).stderr[-2000:]
