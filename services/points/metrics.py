"""Points' own Prometheus metrics (the kit's are in services/kit/metrics.py). Labels take known
values only: the reasons and states of domain.commerce."""

from prometheus_client import Counter, Gauge

EVENTS_PARKED = Counter(
    "points_events_parked_total",
    "Storefront events parked instead of applied (member unknown, hold or currency unfit)",
    ["reason"],
)
PARKED_SETTLED = Counter(
    "points_parked_events_settled_total",
    "Parked events settled: applied, given up, refused or superseded, by the reason parked",
    ["reason", "outcome"],
)
PARKED_OPEN = Gauge(
    "points_parked_events",
    "Parked events waiting for their member or held for an operator (at the last job run)",
    ["state"],
)
REFUNDS_REFUSED = Counter(
    "points_refunds_refused_total",
    "Refunds received before their payment that did not fit it when it arrived",
    ["reason"],
)
