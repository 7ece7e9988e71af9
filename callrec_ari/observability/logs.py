"""Logging set-up: human-readable lines, or one JSON object per line for the event log.

Every record carries ``call_id`` (from the running task's context, or ``extra``), so an operator
follows one call from StasisStart to delivery with ``grep <call id>`` or ``jq 'select(.call_id==…)'``.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

from callrec_ari.observability.context import current_call_id

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "call_id", ""):
            record.call_id = current_call_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if not out.get("call_id"):
            out.pop("call_id", None)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def escape_controls(text: str) -> str:
    """Control characters as escapes, so that nothing a caller, a customer's server or Asterisk
    sends (a call id, a number, an error body) can start a forged log line or hide one."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class TextFormatter(logging.Formatter):
    """One line per record, whatever the record holds (a traceback keeps its own lines, indented)."""

    def format(self, record: logging.LogRecord) -> str:
        exc_info, record.exc_info, record.exc_text = record.exc_info, None, None
        try:
            line = escape_controls(super().format(record))
        finally:
            record.exc_info = exc_info
        if exc_info:
            line += "\n" + "\n".join("    " + part for part in self.formatException(exc_info).splitlines())
        return line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (it may be replaced after set-up)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


class _Handoff(logging.handlers.QueueHandler):
    """Hands a record, as logged, to the writer's thread: formatting it and writing it happen there."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


WRITE_EVERY_S = 0.05


class _Writer:
    """The writer's thread: what is logged within ``WRITE_EVERY_S`` of a first record, formatted, in
    one write.

    It waits for a record, then lets ``WRITE_EVERY_S`` pass before it writes what came meanwhile: a
    busy second's few hundred lines cost the thread twenty wake-ups and writes, not a few hundred, and
    a record handed over while the thread lets that time pass wakes nothing (no system call on the
    event loop's side). A quiet process's thread sleeps until there is something to write (it looked
    twenty times a second, 1.7 ms of CPU a second for nothing: docs/performance.md)."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord | None],
                 handler: logging.StreamHandler[TextIO], every: float = WRITE_EVERY_S) -> None:
        self._records = records
        self._handler = handler
        self._every = every
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callrec-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._records.put(None)  # wakes a thread waiting for its first record
        self._thread.join()
        self._write()  # what was logged after the thread's last look

    def _run(self) -> None:
        while (first := self._records.get()) is not None:
            self._stopping.wait(self._every)  # (cut short by stop(): it writes what is left)
            self._write(first)
            if self._stopping.is_set():
                return

    def _write(self, first: logging.LogRecord | None = None) -> None:
        handler, lines, record = self._handler, [], first
        while True:
            if record is not None:
                try:
                    lines.append(handler.format(record))
                except Exception:
                    handler.handleError(record)
            try:
                record = self._records.get_nowait()
            except queue.Empty:
                break
        if not lines:
            return
        try:
            handler.stream.write("\n".join(lines) + "\n")
            handler.stream.flush()
        except Exception:  # (stderr gone): as logging's own handlers do, never raise from here
            handler.handleError(logging.makeLogRecord({"msg": lines[0]}))


_writer: _Writer | None = None


@atexit.register
def _stop_writer() -> None:
    """Whatever was logged is written before the process ends."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None


def setup_logging(json_lines: bool = False, level: int = logging.INFO, stream: TextIO | None = None,
                  background: bool = False) -> None:
    """``background`` (the call-control process, ``callrec run``): the lines are formatted and written
    by a thread of their own, not by the event loop that logged them (the call's id is still taken in
    the caller's context), within ``WRITE_EVERY_S`` of being logged. The lines of the last such moment
    before a SIGKILL may then be lost; an exit of any other kind writes them."""
    global _writer
    _stop_writer()
    # Nothing written names the source line, the thread or the process of a record (the formats
    # above): the standard library is told not to gather them for every record (the logging HOWTO's
    # "Optimization"): 12 -> 7.5 us per record on the event loop (docs/performance.md).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    written: logging.StreamHandler[TextIO] = (logging.StreamHandler(stream) if stream is not None
                                              else _StderrHandler())
    if json_lines:
        written.setFormatter(JsonFormatter())
    else:
        written.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler: logging.Handler = written
    if background:
        lines: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        _writer = _Writer(lines, written)
        _writer.start()
        handler = _Handoff(lines)
    handler.addFilter(CallIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
