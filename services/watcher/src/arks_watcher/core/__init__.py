"""Pure logic of the watcher: no asyncio, NATS or Kubernetes imports here."""
