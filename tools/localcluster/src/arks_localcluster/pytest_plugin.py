"""pytest fixture `local_cluster`: one real control plane per test session (see cluster.py).

Use it from a conftest.py:

    from arks_localcluster.pytest_plugin import local_cluster, pytest_collection_finish  # noqa: F401

The binaries are built before the first test runs if any selected test uses the fixture (cached in
${ARKS_CACHE:-~/.cache/arks}/bin; a cold build takes minutes and is not counted against per-test timeouts).
Set ARKS_LOCALCLUSTER_KEEP=1 to keep the work directory (logs, kubeconfig, etcd data) after the session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from .build import build_all
from .cluster import LocalCluster

FIXTURE = "local_cluster"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or find cached) the binaries once, before the test loop, when a selected test needs them."""
    if any(FIXTURE in getattr(item, "fixturenames", ()) for item in session.items):
        build_all()


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
