"""The model-loader's I/O: NATS and Kubernetes adapters."""
