"""`python -m arks_localcluster build|up|down|status|env|gomod`."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from .build import COMPONENTS, COMPONENTS_BY_NAME, BuildError, bin_dirs, build_all, generate_gomod
from .cluster import COMPONENT_ORDER, ClusterError, LocalCluster
from .versions import run_dir


def _cmd_build(args: argparse.Namespace) -> int:
    start = time.monotonic()
    bins = build_all(args.components or None)
    for name, path in sorted(bins.items()):
        print(f"{name:26} {path}")
    print(f"build done in {time.monotonic() - start:.1f}s")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    build_all()
    cluster = LocalCluster.attach(run_dir())
    running = cluster.running_components()
    if running:
        if len(running) == len(COMPONENT_ORDER) and _healthy(cluster):
            print(f"already running: {', '.join(running)}")
            print(f"export KUBECONFIG={cluster.kubeconfig}")
            return 0
        cluster.stop()
    cluster = LocalCluster(run_dir(), detach=True, timeout=args.timeout)
    start = time.monotonic()
    cluster.start()
    print(f"cluster up in {time.monotonic() - start:.1f}s: {cluster.server}")
    print(cluster.kubectl("get", "nodes", "-L", "nvidia.com/gpu.product").stdout, end="")
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def _healthy(cluster: LocalCluster) -> bool:
    try:
        return cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
    except Exception:
        return False


def _cmd_down(_: argparse.Namespace) -> int:
    if not run_dir().exists():
        print("not running")
        return 0
    cluster = LocalCluster.attach(run_dir())
    cluster.stop()
    left = cluster.running_components()
    if left:
        print(f"still running: {left}", file=sys.stderr)
        return 1
    print("stopped")
    return 0


def _cmd_status(_: argparse.Namespace) -> int:
    cluster = LocalCluster.attach(run_dir())
    running = cluster.running_components()
    if not running:
        print("not running")
        return 1
    for name, pid in running.items():
        print(f"{name:26} pid {pid}")
    print(f"server {cluster.server}  kubeconfig {cluster.kubeconfig}")
    if not _healthy(cluster):
        print("kube-apiserver is not ready")
        return 1
    print(cluster.kubectl("get", "nodes", "-L", "nvidia.com/gpu.product").stdout, end="")
    return 0


def _cmd_env(_: argparse.Namespace) -> int:
    path = ":".join(str(d) for d in bin_dirs())
    print(f"export KUBECONFIG={shlex.quote(str(run_dir() / 'kubeconfig'))}")
    print(f'export PATH={shlex.quote(path)}:"$PATH"')
    return 0


def _cmd_gomod(args: argparse.Namespace) -> int:
    for name in args.components or [c.name for c in COMPONENTS]:
        generate_gomod(COMPONENTS_BY_NAME[name])
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m arks_localcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    names = [c.name for c in COMPONENTS]
    p = sub.add_parser("build", help="build the binaries from Go modules (cached per version)")
    p.add_argument("components", nargs="*", choices=[*names, []], help="default: all")
    p.set_defaults(func=_cmd_build)
    p = sub.add_parser("up", help="start the cluster in the background (state in $ARKS_CACHE/run)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds each component may take to be ready")
    p.set_defaults(func=_cmd_up)
    sub.add_parser("down", help="stop the background cluster").set_defaults(func=_cmd_down)
    sub.add_parser("status", help="show the background cluster").set_defaults(func=_cmd_status)
    sub.add_parser("env", help="print export lines for KUBECONFIG and PATH").set_defaults(func=_cmd_env)
    p = sub.add_parser("gomod", help="regenerate the wrapper modules from tools/versions.env")
    p.add_argument("components", nargs="*", choices=[*names, []], help="default: all")
    p.set_defaults(func=_cmd_gomod)
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except (BuildError, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    raise SystemExit(code)


if __name__ == "__main__":
    main()
