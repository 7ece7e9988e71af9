"""What the soak does: its addresses and customers, the calls it places and the faults it injects
(reproducible from the seed)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.common import ROOT

OUT_JSON = ROOT / "bench" / "soak-results.json"
OUT_MD = ROOT / "bench" / "soak-results.md"
# Beside the tests' Asterisk (5060, 8088, 10000-13999) and the cluster tests' (127.0.2.x, 21000-22999,
# 25060-26110): its own edge and node addresses, RTP range (node index 8: 28000-28999) and SIPp ports.
EDGE, EDGE_PORT, NETWORK, NODE_INDEX = "127.0.3.1", 25060, "127.0.3", 8
CARRIER_PORT, CARRIER_MEDIA = 29080, 29180
UAC_PORT, UAC_MEDIA = 29200, 29600
PG_PORT = 29432
SECRET = {
    "A": "soak-secret-of-customer-a",
    "B": "soak-secret-of-customer-b",
    "C": "soak-secret-of-customer-c",
    "D": "soak-secret-of-customer-d",
}
LINES = {
    "A": ("1001", "09000001001"),
    "B": ("1002", "09000001002"),
    "C": ("1003", "09000001003"),
    "D": ("1004", "09000001004"),
}
OUTSIDE = "0312345678"
EXCLUDED = "117"  # R3.4: numbers starting with 1 are connected unrecorded
CALLER_TONE, CALLEE_TONE = 1200, 1800
SEGMENT_SECONDS = 15  # the delivered segments (R1.2), cut from the files
ROLL_SECONDS = 20  # Asterisk's recording files roll: a 40-second call rolls once
# A supervisor's pause before starting a crashed Asterisk again (longer than the app's asterisk_gone_seconds).
ASTERISK_RESTART_S = 20.0


@dataclass(frozen=True)
class CallStream:
    """One SIPp caller: a line calling one number at a share of the total rate, each call ``talk_s``."""

    name: str
    customer: str
    service: str
    talk_s: float
    share: float


STREAMS = (
    CallStream("a-short", "A", OUTSIDE, 8, 0.35),
    CallStream("a-long", "A", OUTSIDE, 40, 0.10),  # rolls files (ROLL_SECONDS), cut in segments
    CallStream("b", "B", OUTSIDE, 15, 0.30),
    CallStream("c-stream", "C", OUTSIDE, 10, 0.10),
    CallStream("excluded", "B", EXCLUDED, 5, 0.15),
)


@dataclass(frozen=True)
class Fault:
    what: str
    at_s: float
    duration_s: float = 0.0


def schedule(minutes: float, seed: int, smoke: bool) -> list[Fault]:
    """The faults and when (seconds into the load), each placed in its own slice of the run with a
    seeded jitter, so that no two overlap. The smoke run has one app kill and one receiver outage."""
    rng = random.Random(seed)
    total = minutes * 60
    if smoke:
        kinds = [("app-killed", 0.0), ("receiver-down", min(45.0, total * 0.25))]
    else:
        kinds = [
            ("app-killed", 0.0),
            ("receiver-down", max(120.0, total * 0.1)),
            ("receiver-500", max(60.0, total * 0.05)),
            ("worker-killed-mid-upload", 0.0),
            ("asterisk-restarted", 0.0),
            ("postgresql-restarted", 0.0),
            ("spool-nearly-full", 60.0),
        ]
    slot = total * 0.8 / len(kinds)
    faults = []
    for i, (what, wanted) in enumerate(kinds):
        duration = min(wanted, round(slot * 0.9, 1))  # a short run shortens the outages, never overlaps them
        start = total * 0.08 + i * slot
        jitter = rng.uniform(0, max(0.0, slot - duration) * 0.5)
        faults.append(Fault(what, round(start + jitter, 1), duration))
    # After the load, once the queue has drained: the worker's clock past D's 7-day deadline.
    faults.append(Fault("clock-past-7-days", round(total, 1)))
    return faults
