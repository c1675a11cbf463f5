"""End-to-end tests run against a real local control plane (tools/localcluster)."""

from arks_localcluster.pytest_plugin import local_cluster, pytest_collection_finish  # noqa: F401
