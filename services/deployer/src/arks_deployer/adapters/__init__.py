"""The deployer's I/O: NATS and Kubernetes adapters."""
