"""Pure logic of the planner: no asyncio, NATS or Kubernetes imports here."""
