"""Pure logic of the model-loader: no asyncio, NATS or Kubernetes imports here."""
