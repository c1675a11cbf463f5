"""Pure logic of the deployer: no asyncio, NATS or Kubernetes imports here."""
