"""Pure logic of the slo-scaler: no asyncio, NATS or Kubernetes imports here."""
