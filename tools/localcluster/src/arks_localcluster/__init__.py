"""A real local Kubernetes control plane for tests and `make run`."""
