"""What the capacity bench measures besides CPU: SIPp's counts, the app's latency histogram,
whether the machine was quiet before a step, how busy it got at the step's peak, and which runs were clean."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import machine_busy_seconds

CPUS = os.cpu_count() or 1


def sipp_stats(path: Path) -> dict[str, int]:
    """The last row of SIPp's -trace_stat CSV: calls created, successful, failed."""
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(errors="replace")), delimiter=";"))
    except FileNotFoundError:
        return {"created": 0, "successful": 0, "failed": 0, "concurrent_max": 0}
    head, last = rows[0], rows[-1]
    col = {name: i for i, name in enumerate(head)}

    def get(name: str) -> int:
        try:
            return int(last[col[name]])
        except (KeyError, ValueError, IndexError):
            return 0

    concurrent = 0
    for row in rows[1:]:
        with contextlib.suppress(KeyError, ValueError, IndexError):
            concurrent = max(concurrent, int(row[col["CurrentCall"]]))
    return {"created": get("TotalCallCreated"), "successful": get("SuccessfulCall(C)"),
            "failed": get("FailedCall(C)"), "concurrent_max": concurrent}


def histogram_buckets(text: str, name: str, where: str = "") -> dict[str, float]:
    """``le`` -> cumulative count of one Prometheus histogram in a /metrics page, summed over its
    other labels; ``where`` (e.g. ``action="Answer"``) keeps the series that carry that label."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket{") and where in line:
            labels, _, value = line.rpartition(" ")
            le = labels.split('le="', 1)[1].split('"', 1)[0]
            out[le] = out.get(le, 0.0) + float(value)
    return out


def histogram_sum(text: str, name: str, where: str = "") -> float:
    """The ``_sum`` of one Prometheus histogram in a /metrics page, over its other labels."""
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith(name + "_sum") and where in line)


def label_values(text: str, name: str, label: str) -> list[str]:
    """The values one label of a histogram takes in a /metrics page."""
    found = {line.split(f'{label}="', 1)[1].split('"', 1)[0] for line in text.splitlines()
             if line.startswith(name + "_bucket{") and f'{label}="' in line}
    return sorted(found)


def histogram_quantile_ms(before: dict[str, float], after: dict[str, float], q: float) -> float | None:
    """The q-quantile (ms) of what was observed between two scrapes, interpolated inside its bucket
    as Prometheus' histogram_quantile does."""
    bounds = sorted((float(le), after.get(le, 0.0) - before.get(le, 0.0)) for le in after)
    total = bounds[-1][1] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in bounds:
        if count >= rank:
            if upper == float("inf"):
                return round(lower * 1000, 1)
            share = (rank - below) / (count - below) if count > below else 1.0
            return round((lower + (upper - lower) * share) * 1000, 1)
        lower, below = upper, count
    return None


def busy_pct(busy_s: float, wall_s: float) -> float:
    """The machine's busy CPU seconds over a wall time, as a share (%) of all its CPUs."""
    return 100 * busy_s / (wall_s * CPUS)


def idle_before(seconds: float = 3.0) -> float:
    """The machine's busy share (%) over a few seconds before a step: the bench wants a quiet machine."""
    b0, t0 = machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return round(busy_pct(machine_busy_seconds() - b0, time.monotonic() - t0), 1)


BUSY_BEFORE_PCT = 10.0  # a step that starts with the machine busier than this is marked


def settle(limit_s: float = 30.0) -> float:
    """Wait, up to ``limit_s``, for the machine to be quiet before a step; the busy share (%) of the last
    look. An app restarted for the step's engine spends seconds of CPU starting its hand-over's worker
    processes (app/handover.py): measured from the first look, that start-up was counted in the step
    and every app step of a full run started with the machine 14-40 % busy."""
    deadline = time.monotonic() + limit_s
    busy = idle_before()
    while busy > BUSY_BEFORE_PCT and time.monotonic() < deadline:
        busy = idle_before()
    return busy


SATURATED_PCT = 95.0  # a second with the machine at least this busy counts as saturated


class BusyPeak:
    """The machine's busy share second by second during a step, read by a thread of its own: a
    step's average hides its peak. At 8 calls/s one step averaged 60-68 % busy while the machine was
    95-98 % busy for some 15 s when its first calls ended as new ones kept coming, and the notice's
    tail came from those seconds (docs/performance.md)."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.shares: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-busy-peak", daemon=True)

    def __enter__(self) -> BusyPeak:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        busy, at = machine_busy_seconds(), time.monotonic()
        while not self._stop.wait(self.interval):
            busy1, at1 = machine_busy_seconds(), time.monotonic()
            # /proc/stat counts in clock ticks: over one second a share can read a little past 100 %.
            self.shares.append(min(100.0, busy_pct(busy1 - busy, at1 - at)))
            busy, at = busy1, at1

    @property
    def peak_pct(self) -> float:
        return round(max(self.shares, default=0.0), 1)

    @property
    def saturated_s(self) -> float:
        return round(sum(self.interval for share in self.shares if share >= SATURATED_PCT), 1)


def clean_run(run: dict[str, Any]) -> bool:
    return not run["failed"] and not run["bad_recordings"]


def dialplan_clean(row: dict[str, Any]) -> bool:
    """The dialplan is clean at a rate when any of its runs there is (the first, one after each engine
    but the last, ``dialplan_between``, and the last, ``dialplan_after``): at its limit one minute
    differs from the next (at 14 calls/s, 160 bad recordings of 350 in one run and none in the other),
    and the app, which has one run per engine, is held to the dialplan's best minute."""
    runs = [row["dialplan"], *row.get("dialplan_between", ()), *([row["dialplan_after"]] if
                                                                 "dialplan_after" in row else [])]
    return any(clean_run(r) for r in runs)


# What a row of several rounds adds up (the rest of it is the first round's: its latencies, its busy
# figures) and what it averages.
SUMMED = ("calls", "answered", "failed", "recordings", "bad_recordings")
AVERAGED = ("cpu_per_call_asterisk", "cpu_per_call_app", "dialplan_cpu_per_call")


def merge_rounds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One engine's runs at one rate (bench/capacity.py ``ROUNDS``), as one row: the first run's
    figures, with the calls and failures of every round added up (so the row is clean only when every
    round was), the CPU per call and the ratio to the dialplan averaged over the rounds, and each
    round's own figures under ``rounds``. A single run is returned as it is."""
    if len(runs) == 1:
        return runs[0]
    row = dict(runs[0])
    for key in SUMMED:
        row[key] = sum(r[key] for r in runs)
    for key in AVERAGED:
        row[key] = round(sum(r[key] for r in runs) / len(runs), 4)
    ratios = [r["cpu_ratio_vs_dialplan"] for r in runs if r.get("cpu_ratio_vs_dialplan") is not None]
    row["cpu_ratio_vs_dialplan"] = round(sum(ratios) / len(ratios), 2) if ratios else None
    row["rounds"] = [{k: r.get(k) for k in (*SUMMED, *AVERAGED, "cpu_ratio_vs_dialplan")} for r in runs]
    if voids := [r["void"] for r in runs if "void" in r]:  # a round another ARI client spoilt
        row["void"] = voids[0]
    return row
