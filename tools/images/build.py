"""`make images`: every Arks image, built from the repository's Dockerfiles without a Docker engine.

With Debian's own packages only (installed when missing, as root): mmdebstrap makes a bookworm minbase root
filesystem with Debian's python3.11, imported as the local base image; a `FROM scratch` image holds `/uv` from
PyPI's uv wheel (the version the Dockerfile's UV_IMAGE names); `buildah bud --isolation chroot` builds
services/Dockerfile once per service, services/model-loader/Dockerfile.downloader and deploy/router/Dockerfile
(the ArksEndpoint router: smg from PyPI), with the base images
passed by digest. The images land in the host's containers storage (`podman images`), named as the charts
expect, tagged with the project version. Where Docker is at hand, the same Dockerfiles build with
`docker build` on the public python and uv images (docs/install.md).

    uv run python tools/images/build.py [--only deployer,planner] [--rebuild-base] [--list]

Not part of `make test`; `make image-test` runs the images (tests/images).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "ghcr.io/arks-ai"
SERVICES = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")
DOWNLOADER = "model-downloader"
SERVICE_DOCKERFILE = Path("services/Dockerfile")
DOWNLOADER_DOCKERFILE = Path("services/model-loader/Dockerfile.downloader")
ROUTER = "router"
ROUTER_DOCKERFILE = Path("deploy/router/Dockerfile")
APT_PACKAGES = {"buildah": "buildah", "podman": "podman", "runc": "runc", "mmdebstrap": "mmdebstrap"}
"""Debian package of each command the build needs (podman runs the images: `make image-test`)."""

SUITE = "bookworm"
BASE_PACKAGES = ("python3.11", "python3.11-venv", "libpython3.11-stdlib", "ca-certificates", "passwd")
"""python3.11-venv: the downloader's Dockerfile makes its virtualenv with `python -m venv` (Debian splits
ensurepip out of python3.11); passwd: its groupadd/useradd (minbase has only the Essential packages)."""
BASE_IMAGE = f"localhost/arks-python:3.11-{SUITE}"
BUILD_BASE_IMAGE = f"localhost/arks-python-build:3.11-{SUITE}"
UV_IMAGE = "localhost/arks-uv"


@dataclass(frozen=True)
class Image:
    """One image to build: its name in the charts, its Dockerfile, and its build arguments."""

    name: str
    dockerfile: Path
    build_args: tuple[tuple[str, str], ...] = ()

    def ref(self, version: str) -> str:
        return f"{REGISTRY}/arks-{self.name}:{version}"


def images() -> tuple[Image, ...]:
    """Every image of a release: one per service, the download Job's and the ArksEndpoint router's."""
    services = tuple(Image(s, SERVICE_DOCKERFILE, (("SERVICE", s),)) for s in SERVICES)
    return (*services, Image(DOWNLOADER, DOWNLOADER_DOCKERFILE), Image(ROUTER, ROUTER_DOCKERFILE))


def project_version(pyproject: str) -> str:
    """The project's version: the root pyproject's (every package has the same, a unit test checks)."""
    version: str = tomllib.loads(pyproject)["project"]["version"]
    return version


def uv_version(dockerfile: str) -> str:
    """The uv release the Dockerfile's default UV_IMAGE names, so both ways of building use the same uv."""
    found = re.search(r"^ARG UV_IMAGE=\S+:(\d+\.\d+\.\d+)\s*$", dockerfile, re.MULTILINE)
    if found is None:
        raise ValueError("services/Dockerfile: no `ARG UV_IMAGE=<image>:<x.y.z>` line to take the uv version from")
    return found.group(1)


# ---- the shell: commands ---------------------------------------------------------------------------------


def run(*args: str, capture: bool = False) -> str:
    print("+", " ".join(args), flush=True)
    proc = subprocess.run(args, check=False, text=True, stdout=subprocess.PIPE if capture else None)
    if proc.returncode != 0:
        sys.exit(f"images: `{' '.join(args)}` exited with {proc.returncode}")
    return proc.stdout.strip() if capture else ""


def quiet(*args: str) -> bool:
    return subprocess.run(args, check=False, capture_output=True).returncode == 0


def ensure_packages() -> None:
    missing = sorted(pkg for command, pkg in APT_PACKAGES.items() if shutil.which(command) is None)
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"images: missing {', '.join(missing)}; install them: sudo apt-get install -y {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
        print("+", " ".join(args), flush=True)
        if subprocess.run(args, env=env, check=False).returncode != 0:
            sys.exit(f"images: `{' '.join(args)}` failed")


def exists(image: str) -> bool:
    return quiet("buildah", "inspect", "--type", "image", image)


def digest_ref(image: str) -> str:
    """`name@sha256:...` of a local image: what the builds name, so a retagged base cannot slip in."""
    digest = run("buildah", "inspect", "--type", "image", "--format", "{{.FromImageDigest}}", image, capture=True)
    return f"{image.rsplit(':', 1)[0]}@{digest}"


def build_base(rebuild: bool) -> None:
    """Debian's python3.11 on a minbase bookworm, with /usr/local/bin/python3.11 where the Dockerfile's
    UV_PYTHON (and the python image it stands in for) has it."""
    if exists(BASE_IMAGE) and not rebuild:
        return
    links = 'for n in python3.11 python3 python; do ln -sf /usr/bin/python3.11 "$1/usr/local/bin/$n"; done'
    with tempfile.TemporaryDirectory(prefix="arks-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        run(
            "mmdebstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            f"--customize-hook={links}",
            '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
            SUITE,
            str(rootfs),
        )
        ctr = run("buildah", "from", "scratch", capture=True)
        run("buildah", "add", ctr, str(rootfs), "/")
    run("buildah", "config", "--env", "LANG=C.UTF-8", "--cmd", "python3.11", ctr)
    run("buildah", "commit", "--rm", ctr, BASE_IMAGE)
    if exists(BUILD_BASE_IMAGE):
        run("buildah", "rmi", BUILD_BASE_IMAGE)


def build_build_base() -> None:
    """The build stage's base: the base, trusting this machine's CA bundle, so `uv sync` works behind an HTTPS
    proxy with its own CA. Only the build stage uses it: the images run on the untouched base."""
    if exists(BUILD_BASE_IMAGE):
        return
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    ctr = run("buildah", "from", BASE_IMAGE, capture=True)
    run("buildah", "copy", ctr, bundle, bundle)
    run("buildah", "config", "--env", f"SSL_CERT_FILE={bundle}", ctr)  # uv's own roots otherwise
    run("buildah", "commit", "--rm", ctr, BUILD_BASE_IMAGE)


def build_uv(version: str) -> str:
    """A scratch image with only /uv, from PyPI's uv wheel (what the uv image on a registry holds)."""
    image = f"{UV_IMAGE}:{version}"
    if exists(image):
        return image
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        sys.exit("images: no uv to fetch PyPI's uv wheel with; run it as `make images` (it installs uv)")
    with tempfile.TemporaryDirectory(prefix="arks-uv-") as tmp:
        # The wheel installed into a bare target: its bin/uv is the release's binary, as PyPI ships it.
        run(uv, "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:", "--target", tmp, f"uv=={version}")
        ctr = run("buildah", "from", "scratch", capture=True)
        run("buildah", "copy", "--chmod", "0755", ctr, str(Path(tmp) / "bin" / "uv"), "/uv")
    run("buildah", "commit", "--rm", ctr, image)
    return image


def build(image: Image, version: str, bases: dict[str, str]) -> float:
    started = time.monotonic()
    args = [f"--build-arg={k}={v}" for k, v in (*image.build_args, *bases.items())]
    base = bases["PYTHON_IMAGE"]
    labels = {
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.base.name": base.split("@")[0],
        "org.opencontainers.image.base.digest": base.split("@")[1],
    }
    run(
        "buildah", "bud", "--isolation", "chroot", "--layers", "--pull=never",
        "-f", str(image.dockerfile), *args, *[f"--label={k}={v}" for k, v in labels.items()],
        "-t", image.ref(version), str(ROOT),
    )  # fmt: skip
    return time.monotonic() - started


def size(ref: str) -> str:
    return run("podman", "image", "inspect", "--format", "{{.Size}}", ref, capture=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated image names (default: all)")
    parser.add_argument("--rebuild-base", action="store_true", help="make the Debian base image again")
    parser.add_argument("--list", action="store_true", help="print the image references and exit")
    args = parser.parse_args(argv)
    version = project_version((ROOT / "pyproject.toml").read_text())
    chosen = [i for i in images() if not args.only or i.name in args.only.split(",")]
    if args.list:
        print("\n".join(i.ref(version) for i in chosen))
        return
    if args.only and len(chosen) != len(args.only.split(",")):
        sys.exit(f"images: --only names unknown images; known: {', '.join(i.name for i in images())}")
    ensure_packages()
    build_base(args.rebuild_base)
    build_build_base()
    uv = build_uv(uv_version((ROOT / SERVICE_DOCKERFILE).read_text()))
    bases = {
        "PYTHON_IMAGE": digest_ref(BASE_IMAGE),
        "BUILD_IMAGE": digest_ref(BUILD_BASE_IMAGE),
        "UV_IMAGE": digest_ref(uv),
    }
    took = {i.ref(version): build(i, version, bases) for i in chosen}
    print("\nimages built:")
    for ref, seconds in took.items():
        print(f"  {ref}  {int(size(ref)) / 1e6:.0f} MB  ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
