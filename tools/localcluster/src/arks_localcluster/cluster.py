"""Run a real Kubernetes control plane as local processes: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, the KWOK controller (fake GPU nodes whose pods become Running and Ready) and the
LeaderWorkerSet manager with its admission webhooks, all on free loopback ports.

Everything lives in one work directory: `pki/` (generated CA, certificates, service-account keys),
`etcd/` (data), `logs/<component>.log`, `pids/<component>.pid`, `state.json`, the admin `kubeconfig`
and one kubeconfig per component.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .build import asset_dir, binaries, log
from .pki import CertPair, Pki

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.1/16"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-80GB"
LWS_NAMESPACE = "lws-system"
STORAGE_CLASS = "local-path"


ARKS_STAGES = Path(__file__).with_name("stages")
FAILING_DOWNLOAD_REPO = "arks-test/missing-model"


def _exclude_failing_downloads(stage: str) -> str:
    """KWOK's pod-complete stage, minus the download pods that `stages/pod-fail-download.yaml` fails."""
    doc = yaml.safe_load(stage)
    doc["spec"]["selector"]["matchExpressions"].append(
        {
            "key": '.spec.containers.[].env.[] | select( .name == "ARKS_MODEL" ) | .value',
            "operator": "NotIn",
            "values": [FAILING_DOWNLOAD_REPO],
        }
    )
    return str(yaml.safe_dump(doc, sort_keys=False))


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class NodeSpec:
    """One fake (KWOK) node. No taint by default, so ordinary pods schedule on it."""

    name: str
    gpu_product: str
    gpus: int = 8
    cpu: str = "96"
    memory: str = "1Ti"
    pods: int = 110
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, str], ...] = ()

    def manifest(self) -> dict[str, Any]:
        resources = {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": str(self.pods),
            "ephemeral-storage": "1Ti",
            GPU_RESOURCE: str(self.gpus),
        }
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
            GPU_PRODUCT_LABEL: self.gpu_product,
            "nvidia.com/gpu.count": str(self.gpus),
            "nvidia.com/gpu.present": "true",
            **self.labels,
        }
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": labels,
            },
            "spec": {"taints": [dict(t) for t in self.taints]} if self.taints else {},
            "status": {"allocatable": resources, "capacity": resources},
        }


DEFAULT_NODES: tuple[NodeSpec, ...] = (
    NodeSpec("gpu-h100-0", H100),
    NodeSpec("gpu-h100-1", H100),
    NodeSpec("gpu-a100-0", A100),
    NodeSpec("gpu-a100-1", A100),
)

# Start order; `stop` goes in reverse.
COMPONENT_ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "lws-manager",
)


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the cluster's binaries (all built from Go modules, see build.py)."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    lws_manager: Path
    helm: Path
    nats: Path

    @classmethod
    def resolve(cls) -> Binaries:
        b = binaries()
        return cls(**{k.replace("-", "_"): v for k, v in b.items()})

    def by_component(self, name: str) -> Path:
        path: Path = getattr(self, name.replace("-", "_"))
        return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child when the thread that started it (the test session) dies.

    SIGKILL, not SIGTERM: when the whole session dies at once, etcd goes with it and a SIGTERMed
    kube-apiserver would hang in its graceful shutdown. Start attached clusters from a long-lived thread
    (the main thread): PR_SET_PDEATHSIG fires when the *thread* that forked the child exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _pid_runs(pid: int, exe: str) -> bool:
    """True if `pid` is alive and runs the binary `exe` (guards against recycled pids)."""
    if not _pid_alive(pid):
        return False
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)") == os.path.realpath(exe)
    except OSError:
        return False


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.25) -> None:
    """Poll `check` until it returns True; raise ClusterError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ClusterError:
            raise
        except Exception as exc:  # a probe failing is expected until the component is up
            last_exc = exc
        time.sleep(interval)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}" + (f": {last_exc}" if last_exc else ""))


def _kubeconfig(server: str, ca: Path, user: str, client: CertPair) -> dict[str, Any]:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "arks-local", "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(client.cert), "client-key-data": b64(client.key)},
            }
        ],
        "contexts": [{"name": "arks-local", "context": {"cluster": "arks-local", "user": user}}],
        "current-context": "arks-local",
    }


class LocalCluster:
    """A local control plane in `workdir`.

    `detach=False` (tests): the processes die with the Python process that started them (PR_SET_PDEATHSIG),
    and `stop()` must be called at the end.  `detach=True` (`python -m arks_localcluster up`): the processes
    outlive the CLI; `LocalCluster.attach(workdir).stop()` (`down`) stops them through their pid files.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: Iterable[NodeSpec] = DEFAULT_NODES,
        detach: bool = False,
        timeout: float = 120.0,
        bins: Binaries | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.nodes = tuple(nodes)
        self.detach = detach
        self.timeout = timeout
        self._bin = bins
        self.kubeconfig = self.workdir / "kubeconfig"
        self.ports: dict[str, int] = {}
        self.server = ""
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._launches: dict[str, tuple[list[str], dict[str, str]]] = {}
        self._pki: Pki | None = None

    @property
    def bin(self) -> Binaries:
        """Paths of the binaries (kubectl, helm, nats, ...); resolved from the build cache on first use."""
        if self._bin is None:
            self._bin = Binaries.resolve()
        return self._bin

    # ---------------------------------------------------------------- paths
    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pid_dir(self) -> Path:
        return self.workdir / "pids"

    @property
    def state_file(self) -> Path:
        return self.workdir / "state.json"

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.crt"

    def env(self) -> dict[str, str]:
        """Client environment: KUBECONFIG, and PATH with the cached binary directories first."""
        dirs = dict.fromkeys(str(p.parent) for p in (self.bin.kubectl, self.bin.helm, self.bin.nats, self.bin.kwok))
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": os.pathsep.join([*dirs, os.environ.get("PATH", "")]),
        }

    # ---------------------------------------------------------------- kubectl
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin.kubectl), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(cmd, input=input, text=True, capture_output=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, objects: Iterable[Mapping[str, Any]], *, server_side: bool = False) -> None:
        docs = yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False)
        extra = ["--server-side", "--force-conflicts"] if server_side else []
        self.kubectl("apply", *extra, "-f", "-", input=docs)

    # ---------------------------------------------------------------- processes
    def _spawn(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
        exe = self.bin.by_component(name)
        logf = (self.log_dir / f"{name}.log").open("ab")
        full_env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        full_env.update(env or {})
        proc = subprocess.Popen(
            [str(exe), *args],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=full_env,
            start_new_session=True,
            preexec_fn=None if self.detach else _die_with_parent,
        )
        logf.close()
        self._procs[name] = proc
        self._launches[name] = (list(args), dict(env or {}))
        (self.pid_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        log(f"started {name} (pid {proc.pid}), log {self.log_dir / (name + '.log')}")

    def _alive_check(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is not None:
            tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise ClusterError(f"{name} exited with code {proc.returncode}; end of its log:\n{tail}")

    def _wait(self, name: str, what: str, probe: Callable[[], bool], timeout: float | None = None) -> None:
        def check() -> bool:
            self._alive_check(name)
            return probe()

        start = time.monotonic()
        wait_for(f"{name}: {what}", check, timeout or self.timeout)
        log(f"{name}: {what} ({time.monotonic() - start:.1f}s)")

    def _https_ok(self, url: str, *, verify: bool, client: CertPair | None = None) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.ca_file)) if verify else ssl._create_unverified_context()
        if client is not None:
            ctx.load_cert_chain(str(client.cert), str(client.key))
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> LocalCluster:
        """Start every component and wait until the cluster is usable (nodes Ready, LWS webhooks serving)."""
        t0 = time.monotonic()
        if self.workdir.exists():
            running = [n for n, pid, exe in self.recorded_pids() if _pid_runs(pid, exe)]
            if running:
                raise ClusterError(f"{self.workdir} already has running components: {', '.join(running)}")
            if any(self.workdir.iterdir()) and not self.state_file.exists():
                raise ClusterError(f"{self.workdir} is not empty and is not a local-cluster work directory")
            shutil.rmtree(self.workdir)
        for d in (self.workdir, self.log_dir, self.pid_dir):
            d.mkdir(parents=True, exist_ok=True)
        try:
            self._start_all()
        except BaseException:
            log(f"start failed; logs in {self.log_dir}")
            self.stop()
            raise
        log(f"cluster ready in {time.monotonic() - t0:.1f}s; KUBECONFIG={self.kubeconfig}")
        return self

    def _start_all(self) -> None:
        pki = self._pki = Pki(self.pki_dir)
        names = (
            "etcd",
            "etcd-peer",
            "apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "webhook",
            "lws-health",
        )
        self.ports = {n: free_port() for n in names}
        p = self.ports
        self.server = f"https://127.0.0.1:{p['apiserver']}"
        self._write_state()

        # etcd
        etcd_url = f"http://127.0.0.1:{p['etcd']}"
        peer_url = f"http://127.0.0.1:{p['etcd-peer']}"
        self._spawn(
            "etcd",
            [
                "--name=arks",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=arks={peer_url}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=2147483648",
                "--log-level=warn",
            ],
        )

        def etcd_healthy() -> bool:
            with urllib.request.urlopen(f"{etcd_url}/health", timeout=5) as resp:
                return bool(json.load(resp).get("health") == "true")

        self._wait("etcd", "healthy", etcd_healthy)

        # kube-apiserver
        serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=("127.0.0.1", SERVICE_IP),
            server=True,
        )
        sa = pki.service_account_keys()
        admin = pki.issue("admin", "arks-admin", organizations=("system:masters",), client=True)
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={p['apiserver']}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={pki.ca_cert_path}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                f"--cert-dir={self.pki_dir / 'apiserver-generated'}",
                "--v=1",
            ],
        )
        self._wait(
            "kube-apiserver",
            "/readyz",
            lambda: self._https_ok(f"{self.server}/readyz", verify=True, client=admin),
        )
        self.kubeconfig.write_text(yaml.safe_dump(_kubeconfig(self.server, pki.ca_cert_path, "arks-admin", admin)))

        # controller-manager and scheduler, each with its own identity (bound by the default RBAC policy)
        kcm_cfg = self._component_kubeconfig("kube-controller-manager", "system:kube-controller-manager")
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={kcm_cfg}",
                f"--authentication-kubeconfig={kcm_cfg}",
                f"--authorization-kubeconfig={kcm_cfg}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['kube-controller-manager']}",
                f"--cert-dir={self.pki_dir / 'kcm-generated'}",
                "--leader-elect=false",
                "--controllers=*",
                # fake nodes renew their leases from one busy process: give them slack before NotReady
                "--node-monitor-grace-period=5m",
                f"--root-ca-file={pki.ca_cert_path}",
                f"--service-account-private-key-file={sa.key}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={pki.ca_cert_path}",
                f"--cluster-signing-key-file={pki.ca_key_path}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allocate-node-cidrs=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        sched_cfg = self._component_kubeconfig("kube-scheduler", "system:kube-scheduler")
        self._spawn(
            "kube-scheduler",
            [
                f"--kubeconfig={sched_cfg}",
                f"--authentication-kubeconfig={sched_cfg}",
                f"--authorization-kubeconfig={sched_cfg}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['kube-scheduler']}",
                f"--cert-dir={self.pki_dir / 'scheduler-generated'}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        for name in ("kube-controller-manager", "kube-scheduler"):
            self._wait(
                name,
                "/healthz",
                functools.partial(self._https_ok, f"https://127.0.0.1:{p[name]}/healthz", verify=False),
            )

        # The controller-manager works once the token controller has made the default service account.
        self._wait(
            "kube-controller-manager",
            "default service account created",
            lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
        )

        self._start_kwok()
        self._start_lws()
        self._install_gateway_api()
        self.apply(
            [
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {
                        "name": STORAGE_CLASS,
                        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                    },
                    "provisioner": "rancher.io/local-path",
                    "volumeBindingMode": "WaitForFirstConsumer",
                    "reclaimPolicy": "Delete",
                }
            ]
        )

    def _component_kubeconfig(self, name: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        assert self._pki is not None
        pair = self._pki.issue(name, user, organizations=groups, client=True)
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump(_kubeconfig(self.server, self._pki.ca_cert_path, user, pair)))
        path.chmod(0o600)
        return path

    def _start_kwok(self) -> None:
        # kwok patches node and pod status and node leases of every node; it runs as a cluster admin.
        cfg = self._component_kubeconfig("kwok", "kwok-controller", ("system:masters",))
        stages = sorted((asset_dir("kwok") / "stages").glob("*.yaml"))
        kwok_config = self.workdir / "kwok.yaml"
        texts = [
            _exclude_failing_downloads(s.read_text()) if s.name == "pod-complete.yaml" else s.read_text()
            for s in stages
        ]
        texts += [s.read_text() for s in sorted(ARKS_STAGES.glob("*.yaml"))]
        kwok_config.write_text("\n---\n".join(texts))
        self._spawn(
            "kwok",
            [
                f"--kubeconfig={cfg}",
                f"--config={kwok_config}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
            ],
        )
        self.apply([n.manifest() for n in self.nodes])
        names = {n.name for n in self.nodes}

        def nodes_ready() -> bool:
            items = self.kubectl_json("get", "nodes")["items"]
            ready = {
                n["metadata"]["name"]
                for n in items
                if any(
                    c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", [])
                )
            }
            return names <= ready

        self._wait("kwok", f"{len(names)} nodes Ready", nodes_ready)

    def _install_crds(self, crds: list[Path]) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", *(a for c in crds for a in ("-f", str(c))))
        crd_names = [yaml.safe_load(c.read_text())["metadata"]["name"] for c in crds]
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *(f"crd/{n}" for n in crd_names),
            timeout=90,
        )

    def _install_gateway_api(self) -> None:
        """The Gateway API's standard CRDs (HTTPRoute, Gateway, ...): their schemas and CEL rules validate the
        routes an endpoint emits. No gateway controller runs: nothing here serves traffic through them."""
        self._install_crds(sorted((asset_dir("gateway-api") / "crd").glob("*.yaml")))

    def _start_lws(self) -> None:
        assert self._pki is not None
        lws_dir = asset_dir("lws")
        self._install_crds(sorted((lws_dir / "crd").glob("*.yaml")))
        self.kubectl("create", "namespace", LWS_NAMESPACE)

        certs = self.workdir / "lws-certs"
        certs.mkdir()
        serving = self._pki.issue(
            "lws-webhook", "lws-webhook", dns_names=("localhost",), ip_addresses=("127.0.0.1",), server=True
        )
        shutil.copyfile(serving.cert, certs / "tls.crt")
        shutil.copyfile(serving.key, certs / "tls.key")
        config = self.workdir / "lws-config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "config.lws.x-k8s.io/v1alpha1",
                    "kind": "Configuration",
                    "leaderElection": {"leaderElect": False},
                    "internalCertManagement": {"enable": False},
                    "webhook": {"host": "127.0.0.1", "port": self.ports["webhook"], "certDir": str(certs)},
                    "metrics": {"bindAddress": "0"},
                    "health": {"healthProbeBindAddress": f"127.0.0.1:{self.ports['lws-health']}"},
                }
            )
        )
        # The LWS manager runs as a cluster admin (its upstream ClusterRole is not applied here).
        cfg = self._component_kubeconfig("lws-manager", "lws-manager", ("system:masters",))
        self._spawn("lws-manager", [f"--config={config}", "--zap-devel=false"], env={"KUBECONFIG": str(cfg)})
        self._wait(
            "lws-manager",
            "/readyz",
            lambda: self._https_ok(f"http://127.0.0.1:{self.ports['lws-health']}/readyz", verify=False),
        )
        webhook_base = f"https://127.0.0.1:{self.ports['webhook']}"
        self._wait("lws-manager", "webhook server serving TLS", lambda: self._tls_handshake(self.ports["webhook"]))

        ca_bundle = base64.b64encode(self._pki.ca_pem).decode()
        configs = []
        for doc in yaml.safe_load_all((lws_dir / "webhook" / "manifests.yaml").read_text()):
            if not doc:
                continue
            doc["metadata"]["name"] = "lws-" + doc["metadata"]["name"]
            for hook in doc["webhooks"]:
                path = hook["clientConfig"]["service"]["path"]
                hook["clientConfig"] = {"url": webhook_base + path, "caBundle": ca_bundle}
            configs.append(doc)
        self.apply(configs)

    def _tls_handshake(self, port: int) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True

    def _write_state(self) -> None:
        state = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ports": self.ports,
            "binaries": {n: str(self.bin.by_component(n)) for n in COMPONENT_ORDER},
            "nodes": [n.name for n in self.nodes],
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

    def recorded_pids(self) -> list[tuple[str, int, str]]:
        """(component, pid, executable) for every pid file, in start order."""
        out = []
        exes: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            exes = json.loads(self.state_file.read_text()).get("binaries", {})
        for name in COMPONENT_ORDER:
            pidfile = self.pid_dir / f"{name}.pid"
            with contextlib.suppress(OSError, ValueError):
                exe = exes.get(name) or str(self.bin.by_component(name))
                out.append((name, int(pidfile.read_text().strip()), exe))
        return out

    def restart(self, name: str, down_seconds: float = 0.0) -> None:
        """Kills one component with SIGKILL and starts it again with the same arguments (after `down_seconds`),
        as a crash and a restart by a supervisor would; returns once the API server answers again."""
        proc = self._procs[name]
        proc.kill()
        proc.wait(timeout=30)
        time.sleep(down_seconds)  # the outage itself is what the caller wants to see survived
        args, env = self._launches[name]
        self._spawn(name, args, env)
        wait_for(
            f"{name}: the API server answers after the restart",
            lambda: self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
            self.timeout,
        )

    def running_components(self) -> dict[str, int]:
        return {n: pid for n, pid, exe in self.recorded_pids() if _pid_runs(pid, exe)}

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every component this work directory records, one by one in reverse start order (so the
        apiserver drains while etcd is still up); SIGKILL a component that is not gone after `timeout`."""
        recorded = list(reversed(self.recorded_pids()))
        for name, pid, exe in recorded:
            if not _pid_runs(pid, exe):
                continue
            start = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            while _pid_alive(pid) and time.monotonic() - start < timeout:
                self._reap(name)
                time.sleep(0.05)
            if _pid_alive(pid):
                log(f"{name} (pid {pid}) did not stop in {timeout:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while _pid_alive(pid):
                    self._reap(name)
                    time.sleep(0.05)
            log(f"stopped {name} (pid {pid}) in {time.monotonic() - start:.1f}s")
        for name in list(self._procs):
            self._reap(name)
        for name, _, _ in recorded:
            (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)

    def _reap(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0)

    @classmethod
    def attach(cls, workdir: Path) -> LocalCluster:
        """A handle on a cluster started earlier in `workdir` (reads state.json), for `status` and `stop`."""
        c = cls(workdir, detach=True)
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(c.state_file.read_text())
            c.server = state.get("server", "")
            c.ports = state.get("ports", {})
        return c

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
