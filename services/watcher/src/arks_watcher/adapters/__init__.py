"""The watcher's I/O: NATS and Kubernetes adapters."""
