"""End-to-end tests run against a real local control plane (tools/localcluster)."""

from collections.abc import Iterator

import pytest

from arks_localcluster.cluster import LocalCluster
from arks_localcluster.pytest_plugin import local_cluster, pytest_collection_finish  # noqa: F401
from support.e2e import Env, new_namespace, start_env


@pytest.fixture(scope="session")
def arks(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:  # noqa: F811
    """The whole Arks system (every service a separate process) on the local cluster and a real NATS."""
    yield from start_env(local_cluster, tmp_path_factory.mktemp("arks"))


@pytest.fixture
def ns(arks: Env) -> Iterator[str]:
    """A fresh namespace per test, so tests cannot see each other's objects."""
    yield from new_namespace(arks)
