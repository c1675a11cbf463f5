"""The event contract: subjects, streams, consumers and payloads — a public interface (`nats sub 'arks.>'`)."""
