"""Prometheus metrics, in one registry of our own (served at /metrics by the app's HTTP server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

ACTIVE_CALLS = Gauge("callrec_active_calls", "Calls the app is handling now", registry=REGISTRY)
RECORDINGS_IN_PROGRESS = Gauge(
    "callrec_recordings_in_progress", "Bridge recordings running now", registry=REGISTRY
)
CALLS = Counter(
    "callrec_calls_total", "Calls taken into the app, by outcome", ["outcome"], registry=REGISTRY
)
NOTICE_LATENCY = Histogram(
    "callrec_notice_latency_seconds", "From the callee's answer to the notice playback starting",
    # Fine below 50 ms: the aim is a p99 of at most 40 ms (docs/performance.md); by the millisecond
    # below 5 ms, where the median of a machine below its limit is (two requests to Asterisk).
    buckets=(0.001, 0.002, 0.003, 0.004, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.2,
             0.35, 0.5, 1.0, 2.0, 5.0),
    registry=REGISTRY,
)
# Where a late call is late (docs/performance.md): Asterisk carrying out the call's steps, or the app
# handling Asterisk's events late. Both fine below 50 ms, where a notice must start (issue 15).
_LATENESS_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CALL_ACTION_SECONDS = Histogram(
    "callrec_call_action_seconds",
    "One step of a call carried out in Asterisk (an ARI request; a recorder's start may take two), "
    "by action", ["action"], buckets=_LATENESS_BUCKETS, registry=REGISTRY,
)
ARI_EVENT_LAG = Histogram(
    "callrec_ari_event_lag_seconds",
    "From Asterisk's timestamp of a call's event to the call handling it (hosts' clocks in step)",
    buckets=_LATENESS_BUCKETS, registry=REGISTRY,
)
EVENT_LOOP_LAG = Histogram(
    "callrec_event_loop_lag_seconds",
    "How much later than due the app's event loop ran a timer (observability/loop_lag.py)",
    buckets=_LATENESS_BUCKETS, registry=REGISTRY,
)
DELIVERY_QUEUE_DEPTH = Gauge(
    "callrec_delivery_queue_depth", "Recordings waiting for delivery", registry=REGISTRY
)
DELIVERY_QUEUE_AGE = Gauge(
    "callrec_delivery_queue_oldest_seconds", "Age of the oldest undelivered recording", registry=REGISTRY
)
DELIVERIES = Counter(
    "callrec_deliveries_total", "Delivery attempts by result", ["result"], registry=REGISTRY
)
DELIVERY_FAILURES = Counter(
    "callrec_delivery_failures_total", "Failed delivery attempts by reason (error id)", ["reason"],
    registry=REGISTRY,
)
DELIVERY_LOOKS = Counter(
    "callrec_delivery_queue_looks_total",
    "Times a delivery worker read its queue for due recordings (the doorbell, an upload's end, the poll)",
    registry=REGISTRY,
)
STREAM_LOSSES = Counter(
    "callrec_stream_losses_total", "Stream delivery losses by reason", ["reason"], registry=REGISTRY
)
ARI_RECONNECTS = Counter("callrec_ari_reconnects_total", "ARI events socket reconnections", registry=REGISTRY)
ARI_CONNECTED = Gauge("callrec_ari_connected", "1 while the ARI events socket is up", registry=REGISTRY)
SPOOL_FREE_BYTES = Gauge("callrec_spool_free_bytes", "Free bytes where recordings are written",
                         registry=REGISTRY)
SPOOL_LOW = Gauge("callrec_spool_low", "1 while free space is below the alert threshold", registry=REGISTRY)
UNCLASSIFIABLE_NUMBERS = Counter(
    "callrec_numbers_unclassifiable_total",
    "Dialled numbers outside the numbering plan, connected unrecorded",
    registry=REGISTRY,
)
