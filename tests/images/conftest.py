"""The image smoke test (`make image-test`): the images `make images` built, against the real local cluster."""

from arks_localcluster.pytest_plugin import local_cluster, pytest_collection_finish  # noqa: F401
