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


_writer: logging.handlers.QueueListener | None = None


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
    the caller's context). A line logged just before a SIGKILL may then be lost."""
    global _writer
    _stop_writer()
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    if background:
        lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        _writer = logging.handlers.QueueListener(lines, handler)
        _writer.start()
        handler = _Handoff(lines)
    handler.addFilter(CallIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
