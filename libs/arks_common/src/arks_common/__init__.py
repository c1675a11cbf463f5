"""Arks shared library: API types, the event contract, and NATS/Kubernetes/telemetry helpers.

It imports no service; services meet only on the bus and the Kubernetes API.
"""
