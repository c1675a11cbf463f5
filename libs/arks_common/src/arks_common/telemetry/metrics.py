"""Prometheus metrics common to every service, named in the spirit of controller-runtime's.

Service-specific metrics live in the service; these cover the bus and reconcile loops all services share.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "arks_messages_total",
    "Messages handled by a durable consumer, by result (ack, later, retry, dead_letter).",
    ["consumer", "result"],
)
REDELIVERIES = Counter(
    "arks_message_redeliveries_total", "Messages received again after a nak or an ack timeout.", ["consumer"]
)
HANDLING_SECONDS = Histogram(
    "arks_message_handling_seconds", "Time to handle one message, decode to ack.", ["consumer"]
)
CONSUMER_PENDING = Gauge(
    "arks_consumer_pending_messages",
    "Messages in the stream not yet delivered to the consumer.",
    ["consumer"],
)
PARTITIONS_OWNED = Gauge(
    "arks_partitions_owned",
    "Partitions of the bus this replica holds the Lease of and consumes (arks_common.sharing).",
)
RECONCILES = Counter(
    "arks_reconcile_total",
    "Reconciles by controller and result (success, requeue, error).",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter("arks_reconcile_errors_total", "Reconciles that ended in an error.", ["controller"])
RECONCILE_SECONDS = Histogram("arks_reconcile_time_seconds", "Time of one reconcile.", ["controller"])
PUBLISHED = Counter(
    "arks_events_published_total",
    "Events published, by channel and whether JetStream saw a duplicate.",
    ["channel", "duplicate"],
)
