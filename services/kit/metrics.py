"""Prometheus metrics every service exports."""

from prometheus_client import Counter, Gauge, Histogram

GRPC_CALLS = Counter(
    "grpc_server_handled_total", "gRPC calls by method and code", ["grpc_method", "grpc_code"]
)
GRPC_LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "gRPC call latency",
    ["grpc_method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_PUBLISHED = Counter("events_published_total", "Events relayed to the broker", ["type"])
EVENTS_PUBLISH_FAILED = Counter(
    "events_publish_failed_total", "Events the broker refused or could not route", ["type"]
)
EVENTS_CONSUMED = Counter("events_consumed_total", "Events applied", ["consumer", "type"])
EVENTS_DUPLICATE = Counter(
    "inbox_duplicates_total", "Redelivered events skipped by the inbox", ["consumer"]
)
EVENTS_DEAD_LETTERED = Counter(
    "events_dead_lettered_total", "Events sent to the dead-letter queue", ["consumer"]
)
EVENTS_DELAYED = Counter(
    "events_delayed_total",
    "Event handling attempts put off because the database was away (not counted as failures)",
    ["consumer"],
)
EVENTS_FAILED = Counter("events_failed_total", "Event handling attempts that failed", ["consumer"])
DEAD_LETTERS = Gauge(
    "dead_letter_messages",
    "Messages waiting in a consumer's dead-letter queue (<queue>.dlq), measured by the consumer",
    ["consumer"],
)
EVENTS_UNROUTED = Gauge(
    "events_unrouted", "Events kept in the unrouted queue: published while no queue was bound"
)
OUTBOX_LAG = Gauge("outbox_lag_seconds", "Age of the oldest unpublished outbox row")
JOB_RUNS = Counter("job_runs_total", "Scheduled job runs", ["job", "outcome"])  # ok|error|skipped
RATE_LIMIT_REFUSALS = Counter(
    "rate_limit_refusals_total",
    "Hits a rate limit (kit.ratelimit) refused, by the limit's name",
    ["limit"],
)
