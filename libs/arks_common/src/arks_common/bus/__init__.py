"""NATS JetStream plumbing: connection, idempotent declarations, publishing, and the durable consumer loop."""
