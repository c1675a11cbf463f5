"""Kubernetes access shared by the services: one generic async client over kubernetes_asyncio."""
