"""Kubernetes access shared by the services: one generic async client (client.Kube) over one HTTP client."""
