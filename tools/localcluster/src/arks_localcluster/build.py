"""Build the cluster's binaries from Go modules, once per machine, into
`${ARKS_CACHE}/bin/<component>-<version>/`.

Every component has a committed wrapper module in `tools/localcluster/gomod/<component>/` (a go.mod with a
`tool` directive naming the upstream main packages, plus go.sum).  `go build -mod=readonly` of those packages
is reproducible and needs only the Go module proxy.  A component whose directory holds a `.complete` marker
and all its binaries is skipped ("cached"); an interrupted build leaves only a `.partial` directory that the
next run removes, so the build is idempotent and resumable (Go's own build cache keeps the finished packages).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from .versions import GOMOD_DIR, bin_root, load_versions


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Component:
    name: str
    version_key: str
    module: str
    # (main package, output binary name)
    packages: tuple[tuple[str, str], ...]
    # -X importpath.name=value, formatted with {version}, {major}, {minor}
    stamps: tuple[str, ...] = ()

    def version(self, versions: dict[str, str]) -> str:
        return versions[self.version_key]

    def dir(self, versions: dict[str, str]) -> Path:
        return bin_root() / f"{self.name}-{self.version(versions)}"

    @property
    def gomod(self) -> Path:
        return GOMOD_DIR / self.name


_KUBE_STAMPS = (
    *(
        f"{pkg}.{var}={{{val}}}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for var, val in (("gitVersion", "version"), ("gitMajor", "major"), ("gitMinor", "minor"))
    ),
    "k8s.io/component-base/version.gitTreeState=clean",
    "k8s.io/client-go/pkg/version.gitTreeState=clean",
    "k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z",
)

COMPONENTS: tuple[Component, ...] = (
    Component("etcd", "ETCD_VERSION", "go.etcd.io/etcd/server/v3", (("go.etcd.io/etcd/server/v3", "etcd"),)),
    Component(
        "kube",
        "KUBERNETES_VERSION",
        "k8s.io/kubernetes",
        tuple(
            (f"k8s.io/kubernetes/cmd/{b}", b)
            for b in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        ),
        _KUBE_STAMPS,
    ),
    Component("kwok", "KWOK_VERSION", "sigs.k8s.io/kwok", (("sigs.k8s.io/kwok/cmd/kwok", "kwok"),)),
    Component(
        "lws",
        "LWS_VERSION",
        "sigs.k8s.io/lws",
        (("sigs.k8s.io/lws/cmd", "lws-manager"),),
        ("sigs.k8s.io/lws/pkg/version.GitVersion={version}",),
    ),
    Component(
        "helm",
        "HELM_VERSION",
        "helm.sh/helm/v3",
        (("helm.sh/helm/v3/cmd/helm", "helm"),),
        ("helm.sh/helm/v3/internal/version.version={version}",),
    ),
    Component(
        "nats",
        "NATSCLI_VERSION",
        "github.com/nats-io/natscli",
        (("github.com/nats-io/natscli/nats", "nats"),),
        ("main.version={version}",),
    ),
    # No binary: the standard channel's CRDs (HTTPRoute, Gateway, ...), read from the module's config/crd.
    Component("gateway-api", "GATEWAY_API_VERSION", "sigs.k8s.io/gateway-api", ()),
)
COMPONENTS_BY_NAME = {c.name: c for c in COMPONENTS}

# Binaries a KUBEBUILDER_ASSETS directory (controller-runtime envtest) may provide instead of our build.
ENVTEST_BINARIES = ("etcd", "kube-apiserver", "kubectl")

# kwok's "fast" stage set (kustomize/stage/fast): nodes become Ready (and keep a lease), pods Running+Ready.
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


def log(msg: str) -> None:
    print(f"[arks-localcluster] {msg}", file=sys.stderr, flush=True)


def envtest_assets() -> Path | None:
    """The KUBEBUILDER_ASSETS directory, if set and holding etcd, kube-apiserver and kubectl."""
    raw = os.environ.get("KUBEBUILDER_ASSETS")
    if not raw:
        return None
    d = Path(raw).expanduser()
    if all(os.access(d / b, os.X_OK) for b in ENVTEST_BINARIES):
        return d
    return None


def _wanted(comp: Component) -> list[tuple[str, str]]:
    """The binaries to build (those KUBEBUILDER_ASSETS provides aside)."""
    assets = envtest_assets()
    if assets is None:
        return list(comp.packages)
    return [(pkg, b) for pkg, b in comp.packages if b not in ENVTEST_BINARIES]


def _provided_elsewhere(comp: Component) -> bool:
    """Every binary of `comp` comes from KUBEBUILDER_ASSETS (a component without binaries is never)."""
    return bool(comp.packages) and not _wanted(comp)


def _is_built(comp: Component, versions: dict[str, str]) -> bool:
    if _provided_elsewhere(comp):
        return True  # everything it would build comes from KUBEBUILDER_ASSETS
    d = comp.dir(versions)
    if not (d / ".complete").is_file():
        return False
    return all(os.access(d / b, os.X_OK) for _, b in _wanted(comp))


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOFLAGS"] = "-buildvcs=false -mod=readonly"
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    log("$ " + " ".join(cmd) + f"   (in {cwd})")
    proc = subprocess.run(cmd, cwd=cwd, env=env or _go_env(), text=True, capture_output=True, check=False)
    if proc.returncode != 0:
        raise BuildError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}{proc.stderr[-8000:]}"
        )
    return proc.stdout


def _check_gomod(comp: Component, versions: dict[str, str]) -> None:
    gomod = comp.gomod / "go.mod"
    if not gomod.is_file():
        raise BuildError(f"missing wrapper module {gomod}; run `python -m arks_localcluster gomod {comp.name}`")
    want = comp.version(versions)
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(comp.module)}\s+(\S+)", gomod.read_text(), re.M)
    if not m or m.group(1) != want:
        raise BuildError(
            f"{gomod} requires {comp.module} {m.group(1) if m else '(nothing)'} but tools/versions.env pins "
            f"{want}; run `python -m arks_localcluster gomod {comp.name}`"
        )


def module_dir(comp: Component) -> Path:
    """Source directory of the component's upstream module in GOMODCACHE (downloaded if needed)."""
    out = _run(["go", "mod", "download", "-json", comp.module], comp.gomod)
    return Path(json.loads(out)["Dir"])


def _ldflags(comp: Component, version: str) -> str:
    m = re.match(r"v?(\d+)\.(\d+)", version)
    major, minor = (m.group(1), m.group(2)) if m else ("", "")
    stamps = [s.format(version=version, major=major, minor=minor) for s in comp.stamps]
    return " ".join(["-s", "-w", *(f"-X {s}" for s in stamps)])


def _copy_assets(comp: Component, dest: Path) -> None:
    if comp.name == "kwok":
        src = module_dir(comp)
        (dest / "stages").mkdir()
        for rel in KWOK_STAGE_FILES:
            shutil.copyfile(src / rel, dest / "stages" / Path(rel).name)
    elif comp.name == "gateway-api":
        src = module_dir(comp)
        (dest / "crd").mkdir()
        for f in sorted((src / "config" / "crd" / "standard").glob("*.yaml")):
            kinds = {d.get("kind") for d in yaml.safe_load_all(f.read_text()) if d}
            if kinds == {"CustomResourceDefinition"}:  # not the admission policy that pins the CRDs' channel
                shutil.copyfile(f, dest / "crd" / f.name)
    elif comp.name == "lws":
        src = module_dir(comp)
        (dest / "crd").mkdir()
        for f in sorted((src / "config" / "crd" / "bases").glob("*.yaml")):
            shutil.copyfile(f, dest / "crd" / f.name)
        (dest / "webhook").mkdir()
        shutil.copyfile(src / "config" / "webhook" / "manifests.yaml", dest / "webhook" / "manifests.yaml")


def build_component(comp: Component, versions: dict[str, str]) -> Path:
    target = comp.dir(versions)
    version = comp.version(versions)
    if _provided_elsewhere(comp):
        log(f"{comp.name}: provided by KUBEBUILDER_ASSETS={envtest_assets()}")
        return target
    if _is_built(comp, versions):
        log(f"{comp.name} {version}: cached in {target}")
        return target
    _check_gomod(comp, versions)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    wanted = _wanted(comp)
    log(f"{comp.name} {version}: building {', '.join(b for _, b in wanted) or 'its assets'} (cold builds take minutes)")
    start = time.monotonic()
    ldflags = _ldflags(comp, version)
    if not wanted:
        pass  # assets only
    elif len(wanted) == 1:
        pkg, name = wanted[0]
        _run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial / name), pkg], comp.gomod)
    else:
        # One invocation so the packages the binaries share are compiled once; -o dir/ names them by package.
        cmd = [
            "go",
            "build",
            "-trimpath",
            "-ldflags",
            ldflags,
            "-o",
            str(partial) + "/",
            *(p for p, _ in wanted),
        ]
        _run(cmd, comp.gomod)
    for _, name in wanted:
        if not os.access(partial / name, os.X_OK):
            raise BuildError(f"{comp.name}: go build did not produce {partial / name}")
    _copy_assets(comp, partial)
    elapsed = time.monotonic() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    info = {
        "component": comp.name,
        "version": version,
        "binaries": [b for _, b in wanted],
        "seconds": elapsed,
    }
    (partial / ".complete").write_text(json.dumps(info, indent=2) + "\n")
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    log(f"{comp.name} {version}: built in {elapsed:.0f}s (largest process so far {peak_mib:.0f} MiB) -> {target}")
    return target


@contextmanager
def _build_lock() -> Iterator[None]:
    bin_root().mkdir(parents=True, exist_ok=True)
    with (bin_root() / ".build.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_all(names: list[str] | None = None) -> dict[str, Path]:
    """Build (or find cached) every component; returns the resolved binary paths (see `binaries`)."""
    versions = load_versions()
    if shutil.which("go") is None:
        raise BuildError("`go` is not on PATH; the local cluster is built from Go modules (Go >= 1.26)")
    comps = [COMPONENTS_BY_NAME[n] for n in names] if names else list(COMPONENTS)
    with _build_lock():
        for comp in comps:
            build_component(comp, versions)
    return binaries(versions)


def binaries(versions: dict[str, str] | None = None) -> dict[str, Path]:
    """Paths of every binary by name (etcd, kube-apiserver, ..., kwok, lws-manager, helm, nats).

    Raises BuildError naming the missing component if something is not built yet.
    """
    versions = versions or load_versions()
    out: dict[str, Path] = {}
    for comp in COMPONENTS:
        if not _is_built(comp, versions):
            raise BuildError(f"{comp.name} {comp.version(versions)} is not built; run `make cluster-build`")
        for _, name in _wanted(comp):
            out[name] = comp.dir(versions) / name
    assets = envtest_assets()
    if assets is not None:
        for name in ENVTEST_BINARIES:
            out[name] = assets / name
    return out


def asset_dir(name: str, versions: dict[str, str] | None = None) -> Path:
    """Directory of a built component (holds kwok's stages/ and lws's crd/ and webhook/)."""
    versions = versions or load_versions()
    return COMPONENTS_BY_NAME[name].dir(versions)


def bin_dirs(versions: dict[str, str] | None = None) -> list[Path]:
    """Directories to put on PATH (envtest assets first when used)."""
    versions = versions or load_versions()
    dirs = [c.dir(versions) for c in COMPONENTS]
    assets = envtest_assets()
    return [assets, *dirs] if assets is not None else dirs


def generate_gomod(comp: Component, versions: dict[str, str] | None = None) -> None:
    """(Re)write the wrapper module of `comp` for the version pinned in tools/versions.env."""
    versions = versions or load_versions()
    version = comp.version(versions)
    comp.gomod.mkdir(parents=True, exist_ok=True)
    lines = [
        f"// Wrapper module: builds {comp.name} from {comp.module} {version} (see tools/localcluster/build.py).",
        f"module arks.local/localcluster/{comp.name}",
        "",
        "go 1.26.0",
        "",
        f"require {comp.module} {version}",
    ]
    env = dict(os.environ, GOFLAGS="-buildvcs=false", GOTOOLCHAIN=os.environ.get("GOTOOLCHAIN", "local"))
    if comp.name == "kube":
        # k8s.io/kubernetes replaces its staging modules with ./staging/...; point each at its published
        # v0.<minor>.<patch> release instead.
        info = json.loads(_run(["go", "mod", "download", "-json", f"{comp.module}@{version}"], comp.gomod.parent, env))
        upstream = Path(info["GoMod"]).read_text()
        staging = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", upstream, re.M)
        staged_version = "v0." + version.split(".", 1)[1]
        lines += ["", "replace (", *(f"\t{m} => {m} {staged_version}" for m in staging), ")"]
    (comp.gomod / "go.mod").write_text("\n".join(lines) + "\n")
    (comp.gomod / "go.sum").unlink(missing_ok=True)
    if comp.packages:
        _run(["go", "get", "-tool", *(f"{p}@{version}" for p, _ in comp.packages)], comp.gomod, env)
        _run(["go", "mod", "tidy"], comp.gomod, env)
    else:  # assets only: nothing imports the module, so `tidy` would drop it
        _run(["go", "get", f"{comp.module}@{version}"], comp.gomod, env)
    log(f"wrote {comp.gomod / 'go.mod'}")
