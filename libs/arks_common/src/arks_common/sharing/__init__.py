"""Sharing a service's partitions among its live replicas through Kubernetes Leases: `share` decides (pure),
`owner` reads and writes the Leases and starts and stops each partition's consumers."""
