"""pytest fixture `local_cluster`: one real control plane per test session (see cluster.py).

Use it from a conftest.py with `from arks_localcluster.pytest_plugin import local_cluster  # noqa: F401`.
The binaries are built on first use (cached in ${ARKS_CACHE:-~/.cache/arks}/bin; a cold build takes minutes).
Set ARKS_LOCALCLUSTER_KEEP=1 to keep the work directory (logs, kubeconfig) after the session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from .build import build_all
from .cluster import LocalCluster


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A started LocalCluster: `.kubeconfig`, `.server`, `.bin.kubectl`/`.helm`/`.nats`, `.kubectl()`, ..."""
    build_all()
    workdir = tmp_path_factory.mktemp("localcluster")
    cluster = LocalCluster(workdir, detach=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        if not os.environ.get("ARKS_LOCALCLUSTER_KEEP"):
            shutil.rmtree(workdir / "etcd", ignore_errors=True)
