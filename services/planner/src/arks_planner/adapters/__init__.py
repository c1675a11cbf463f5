"""The planner's I/O: NATS and Kubernetes adapters."""
