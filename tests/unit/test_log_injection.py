"""Log lines cannot be forged (issue 16): control characters in untrusted strings (a call id, a
dialled number, a customer server's answer) are escaped in the text log; the JSON log escapes them
by construction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from callrec_ari.observability.logs import escape_controls, setup_logging


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_newline_in_an_untrusted_string_cannot_start_a_forged_line() -> None:
    out = io.StringIO()
    setup_logging(stream=out)
    forged = "0312345678\n2026-12-01 09:00:00,000 INFO callrec_ari.app call=x delivered\x1b[2K"
    logging.getLogger("callrec_ari.test").warning("dialled %s", forged)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "\\n2026-12-01" in lines[0] and "\\x1b" in lines[0]


def test_a_traceback_keeps_its_lines_but_the_message_cannot_forge_one() -> None:
    out = io.StringIO()
    setup_logging(stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("callrec_ari.test").exception("call %s failed", "c1\rINFO fake")
    first, *rest = out.getvalue().splitlines()
    assert "c1\\rINFO fake" in first and rest and all(line.startswith("    ") for line in rest)


def test_the_json_log_escapes_by_construction() -> None:
    out = io.StringIO()
    setup_logging(json_lines=True, stream=out)
    logging.getLogger("callrec_ari.test").info("call %s", "a\nb")
    (line,) = out.getvalue().splitlines()
    assert json.loads(line)["msg"] == "call a\nb"


def test_printable_text_is_left_alone() -> None:
    assert escape_controls("call=20261201T090000-abcdef01 発信 ok") == "call=20261201T090000-abcdef01 発信 ok"
    assert escape_controls("tab\there") == "tab\\there"


def test_lines_written_in_the_background_keep_their_call_and_their_order() -> None:
    """``callrec run`` logs through a writer thread: every line still arrives, in order, with the call
    id of the code that logged it (not of whatever runs when the line is written)."""
    from callrec_ari.observability import logs
    from callrec_ari.observability.context import current_call_id

    out = io.StringIO()
    setup_logging(json_lines=True, stream=out, background=True)
    try:
        for n in range(200):
            token = current_call_id.set(f"call-{n % 2}")
            logging.getLogger("callrec_ari.test").info("line %d", n)
            current_call_id.reset(token)
    finally:
        logs._stop_writer()  # drains the queue, as at exit
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == [f"line {n}" for n in range(200)]
    assert [line["call_id"] for line in lines] == [f"call-{n % 2}" for n in range(200)]


def test_lines_written_in_the_background_appear_while_the_process_runs() -> None:
    """The writer looks every WRITE_EVERY_S: a line is in the log within a moment, not only at exit."""
    import time

    from callrec_ari.observability import logs

    out = io.StringIO()
    setup_logging(stream=out, background=True)
    try:
        logging.getLogger("callrec_ari.test").warning("first")
        logging.getLogger("callrec_ari.test").warning("second")
        deadline = time.monotonic() + 5.0
        while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        lines = out.getvalue().splitlines()
    finally:
        logs._stop_writer()
    assert len(lines) == 2 and lines[0].endswith("first") and lines[1].endswith("second")


def test_a_quiet_writer_sleeps_until_there_is_a_line_to_write() -> None:
    """The writer thread of a process that logs nothing does not wake (it looked twenty times a second
    for nothing); lines logged then are written within the moment after the first, in one write; and
    stop() ends the thread whether it waits for a line or lets a moment pass (cut short: what came is
    written, not held for the rest of the moment)."""
    import queue
    import threading
    import time
    from typing import TextIO

    from callrec_ari.observability.logs import _Writer

    class Counted(_Writer):
        looks = 0

        def _write(self, first: logging.LogRecord | None = None) -> None:
            Counted.looks += 1
            super()._write(first)

    out = io.StringIO()
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(out)
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    writer = Counted(records, handler, every=0.01)
    writer.start()
    try:
        time.sleep(0.3)  # thirty of its moments, with nothing logged
        assert Counted.looks == 0
        writer._every = 1.0  # a moment long enough that the three lines below surely fall in one
        for n in range(3):
            records.put(logging.makeLogRecord({"msg": f"line {n}"}))
        deadline = time.monotonic() + 5.0
        while out.getvalue().count("\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert out.getvalue().splitlines() == ["line 0", "line 1", "line 2"]
        assert Counted.looks == 1  # the three lines in one write
        writer._every = 600.0
        records.put(logging.makeLogRecord({"msg": "line 3"}))
        while records.qsize():  # the thread has it: it lets its moment pass
            time.sleep(0.005)
    finally:
        began = time.monotonic()
        writer.stop()
    assert time.monotonic() - began < 60  # the moment cut short (it is ten minutes)
    assert out.getvalue().splitlines()[-1] == "line 3"
    assert not any(t.name == "callrec-log-writer" and t.is_alive() for t in threading.enumerate())
