"""What a log line of `callrec run` costs, all of the process's threads counted: the writer thread that
writes what came within WRITE_EVERY_S of a first line (callrec_ari/observability/logs.py) against
the standard library's QueueListener, which wakes for each record (what `callrec run` used before).
Lines come as a call's do: some 27 per call, 6 calls a second, spread out. No Asterisk needed.

    .venv/bin/python -m bench.log_lines [--seconds 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import queue
import tempfile
import time
from collections.abc import Callable
from typing import TextIO

from callrec_ari.observability import logs

LINES_PER_CALL, CALLS_PER_S = 27, 6


def process_cpu() -> float:
    """CPU seconds of every thread of this process (what /proc says, as the capacity bench reads it)."""
    return sum(os.times()[:2])


def run(kind: str, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryFile("w") as out:
        handler: logging.StreamHandler[TextIO] = logging.StreamHandler(out)
        handler.setFormatter(logs.TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        writer: logs._Writer | logging.handlers.QueueListener
        if kind == "writer":
            writer = logs._Writer(records, handler)
        else:
            writer = logging.handlers.QueueListener(records, handler)
        hand_off = logs._Handoff(records)
        hand_off.addFilter(logs.CallIdFilter())
        log = logging.getLogger(f"bench.log_lines.{kind}")
        log.propagate, log.handlers = False, [hand_off]
        log.setLevel(logging.INFO)
        emit: Callable[[], None] = lambda: log.info(  # noqa: E731
            "call=%s ari %s %s", "20261204T010101-abcdef0123456789", "StasisStart", "c1,c1-callee")
        writer.start()
        began, lines = process_cpu(), 0
        pause = 1 / CALLS_PER_S / LINES_PER_CALL
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            emit()
            lines += 1
            time.sleep(pause)
        writer.stop()
        spent = process_cpu() - began
    return {"writer": kind, "lines": lines, "cpu_us_per_line": round(spent / lines * 1e6, 1)}


def baseline(seconds: float) -> dict[str, object]:
    """The same pacing without a line: what the loop of sleeps costs by itself."""
    began, n = process_cpu(), 0
    pause = 1 / CALLS_PER_S / LINES_PER_CALL
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n += 1
        time.sleep(pause)
    spent = process_cpu() - began
    return {"writer": "none (pacing only)", "lines": n, "cpu_us_per_line": round(spent / n * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows = [baseline(args.seconds / 2)]
    for _ in range(args.rounds):
        rows += [run("queue-listener", args.seconds), run("writer", args.seconds)]
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
