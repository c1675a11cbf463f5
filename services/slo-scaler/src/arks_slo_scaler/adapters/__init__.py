"""The slo-scaler's I/O: NATS and Kubernetes adapters."""
