"""A small asyncio client for Asterisk's manager interface (AMI), for the actions ARI does not offer.

The ``mixmonitor`` recording engine (media/mixmonitor.py) starts and stops MixMonitor on a call's leg
with AMI's ``MixMonitor`` and ``StopMixMonitor`` actions; everything else stays on ARI. The protocol
is lines of ``Key: Value`` ended by CRLF, one message per blank line, after a one-line banner. Each
action carries an ``ActionID`` and its answer is matched by it, so many actions may be in flight on
the one connection. The client logs in with ``Events: off``: it reads answers, never events, so
Asterisk encodes nothing for it that it does not ask for.

Given ``on_event`` (recording_engine = dialplan: calls/carried.py), it logs in with ``Events: user``
instead and hands each event to it: the user events the dialplan raises for the calls it carries
(dialplan/extensions.conf, ``[callrec-carry]``), the only class the manager user may read
(dialplan/manager.conf). ``listen()`` then keeps the connection up, and ``on_connect`` is told each time
it is (re)established, since events sent while it was down are lost.

One connection per application, opened on first use and again after it broke; an action in flight
when it breaks fails with :class:`AmiUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)
MESSAGE_END = b"\r\n\r\n"  # a message's headers end with a blank line
MESSAGE_MAX = 1 << 20  # bytes of one message read at most (the app's actions answer in a few hundred)

Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callrec"
    secret: str = ""
    timeout: float = 5.0  # connecting, logging in, and each action's answer


class AmiError(Exception):
    """An action was answered ``Response: Error`` (its ``Message`` is the reason)."""

    error_id = "ami-error"

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI {action}: {message}")
        self.action = action
        self.message = message


class AmiUnavailable(AmiError):
    """Asterisk's manager did not answer: refused, closed, timed out, or the login was refused."""

    error_id = "ami-unavailable"


def encode(action: str, action_id: str, headers: Mapping[str, str]) -> bytes:
    """One action as AMI reads it. A value with a line break would end the message early: refused."""
    lines = [f"Action: {action}", f"ActionID: {action_id}"]
    for key, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key or ":" in key:
            raise ValueError(f"AMI header {key!r}: line breaks (and a colon in the name) are not allowed")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse(data: bytes) -> Message:
    """One message (its bytes, up to its blank line) as a dict; a line without ``: `` (the banner,
    command output) is skipped."""
    message: Message = {}
    for line in data.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            message.setdefault(key, value)
        elif line.endswith(":"):
            message.setdefault(line[:-1], "")
    return message


class AmiClient:
    def __init__(self, settings: AmiSettings, on_event: Callable[[Message], None] | None = None,
                 on_connect: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.on_event = on_event
        self.on_connect = on_connect
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()

    async def action(self, action: str, **headers: str) -> Message:
        """Send one action; its answer, or :class:`AmiError` for ``Response: Error``."""
        writer = await self._connected()
        answer = await self._send(writer, action, headers)
        if answer.get("Response", "").lower() == "error":
            raise AmiError(action, answer.get("Message", "error"))
        return answer

    async def listen(self, retry_s: float = 1.0) -> None:
        """Keeps the connection up for ``on_event`` until cancelled: reconnects ``retry_s`` after it
        broke or could not be made."""
        while True:
            try:
                await self._connected()
            except AmiUnavailable as exc:
                log.warning("AMI: %s; trying again in %.0fs", exc, retry_s)
            else:
                assert self._reader_task is not None
                with contextlib.suppress(Exception):  # the reader logs its own end
                    await asyncio.shield(self._reader_task)
            await asyncio.sleep(retry_s)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
            self._reader_task = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        self._fail_pending("closed")

    # ---- the connection ---------------------------------------------------------------------------
    async def _send(self, writer: asyncio.StreamWriter, action: str, headers: Mapping[str, str]) -> Message:
        action_id = str(next(self._ids))
        data = encode(action, action_id, headers)
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = answer
        try:
            writer.write(data)
            async with asyncio.timeout(self.settings.timeout):
                return await answer
        except TimeoutError:
            raise AmiUnavailable(action, f"no answer in {self.settings.timeout:.0f}s") from None
        except (ConnectionError, OSError) as exc:
            raise AmiUnavailable(action, str(exc) or type(exc).__name__) from None
        finally:
            self._pending.pop(action_id, None)

    async def _connected(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            s = self.settings
            try:
                async with asyncio.timeout(s.timeout):
                    reader, writer = await asyncio.open_connection(s.host, s.port, limit=MESSAGE_MAX)
                    await reader.readline()  # "Asterisk Call Manager/x.y.z"
            except (TimeoutError, OSError) as exc:
                raise AmiUnavailable("connect", f"{s.host}:{s.port}: {exc or 'timed out'}") from None
            self._reader_task = asyncio.create_task(self._read(reader, writer), name="ami-reader")
            try:
                answer = await self._send(writer, "Login",
                                          {"Username": s.username, "Secret": s.secret,
                                           "Events": "off" if self.on_event is None else "user"})
            except AmiUnavailable:
                writer.close()
                raise
            if answer.get("Response", "").lower() != "success":
                writer.close()
                raise AmiUnavailable("Login", answer.get("Message", "refused"))
            self._writer = writer
            log.info("AMI: logged in to %s:%d as %s", s.host, s.port, s.username)
            if self.on_connect is not None:
                self.on_connect()
            return writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A message at a time, up to its blank line: one read of the buffer per message, not one per
        # line (a user event of the dialplan has some thirty). (The banner, a line with no blank line
        # after it, was read by _connected.)
        try:
            while True:
                try:
                    data = await reader.readuntil(MESSAGE_END)
                except asyncio.IncompleteReadError:
                    return  # the manager closed the connection
                self._dispatch(parse(data))
        except (ConnectionError, OSError, asyncio.LimitOverrunError) as exc:
            log.warning("AMI connection lost: %s", exc)
        finally:
            writer.close()
            if self._writer is writer or self._writer is None:
                self._writer = None
                self._fail_pending("connection closed")

    def _dispatch(self, message: Message) -> None:
        if "Event" in message:
            if self.on_event is not None:
                try:
                    self.on_event(message)
                except Exception:  # one event's handling never stops the reader
                    log.exception("AMI: handling event %s", message.get("Event"))
            return
        answer = self._pending.get(message.get("ActionID", ""))
        if answer is None or answer.done():
            return  # an answer nobody waits for any more
        answer.set_result(message)

    def _fail_pending(self, why: str) -> None:
        for action_id, answer in list(self._pending.items()):
            if not answer.done():
                answer.set_exception(AmiUnavailable(f"action {action_id}", why))
