"""``StreamNotifier``: the signed start / heartbeat / end notifications of stream delivery (R1.4).

Asterisk's externalMedia channel sends RTP into the void when the customer is down and reports
nothing (ICMP errors are not surfaced), so these notifications are how the platform learns the
customer endpoint is gone. They never raise into the call flow: each returns a
:class:`NotifyResult` (truthy when acknowledged), logs a loss with the call id and a stable error id,
and counts it in :attr:`StreamNotifier.counters`. Nothing is queued or retried later: audio the
customer did not take is dropped (R1.4).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import aiohttp

from callrec_ari.model.clock import Clock, utcnow
from callrec_ari.net.destinations import GuardedResolver, check_url, refused_in
from callrec_ari.rules.destinations import REFUSED
from callrec_ari.rules.signing import HEADER_CALL_ID, HEADER_SIGNATURE, webhook_digest, webhook_headers
from callrec_ari.streaming import protocol
from callrec_ari.streaming.metadata import StreamMetadata
from callrec_ari.streaming.settings import StreamSettings

log = logging.getLogger(__name__)

UNREACHABLE: Final = "stream-endpoint-unreachable"  # no answer: refused, timeout, DNS, reset
REJECTED: Final = "stream-endpoint-rejected"  # answered, but not 2xx
REFUSED_DESTINATION: Final = REFUSED  # not a public address, nor one the operator allows


@dataclass(frozen=True, slots=True)
class NotifyResult:
    ok: bool
    error_id: str | None = None
    status: int | None = None  # the HTTP status, when there was an answer
    remote_error_id: str | None = None  # the customer's error_id, when its answer had one
    detail: str = ""
    elapsed: float = 0.0

    def __bool__(self) -> bool:
        return self.ok


@dataclass(slots=True)
class NotifierCounters:
    """Monotonic counters (for Prometheus: one counter each)."""

    notifications_sent: int = 0
    notifications_failed: int = 0
    endpoint_unreachable: int = 0
    endpoint_rejected: int = 0
    streams_unannounced: int = 0  # start not acknowledged: the customer cannot tell whose audio it is
    streams_interrupted: int = 0  # customer endpoint lost after a good start: audio dropped (R1.4)


@dataclass(slots=True)
class _CallState:
    metadata: StreamMetadata | None
    up: bool
    heartbeats: int = 0
    interrupted: bool = False


class StreamNotifier:
    """One per stream connection (share it between calls) or per call; use as ``async with``."""

    def __init__(self, settings: StreamSettings, clock: Clock = utcnow) -> None:
        self._settings = settings
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._calls: dict[str, _CallState] = {}
        self.counters = NotifierCounters()

    async def __aenter__(self) -> StreamNotifier:
        self._open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._settings.networks))
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def endpoint_up(self, call_id: str) -> bool:
        """Whether the customer acknowledged this call's last notification."""
        state = self._calls.get(call_id)
        return bool(state and state.up)

    async def start(self, metadata: StreamMetadata) -> NotifyResult:
        """Announce the stream; send it just before the externalMedia channel joins the bridge."""
        state = self._calls[metadata.call_id] = _CallState(metadata, up=False)
        result = await self._send("start", metadata.call_id, metadata=metadata.to_json())
        state.up = result.ok
        if not result.ok:
            self.counters.streams_unannounced += 1
            log.warning("call %s: stream start not acknowledged [%s] (%s): the customer gets audio it "
                        "cannot attribute, or none; nothing is kept on the platform (R1.4)",
                        metadata.call_id, result.error_id, result.detail)
        return result

    async def heartbeat(self, call_id: str) -> NotifyResult:
        state = self._calls.get(call_id) or _CallState(None, up=False)  # unknown call: not kept
        state.heartbeats += 1
        result = await self._send("heartbeat", call_id, sequence=state.heartbeats)
        if result.remote_error_id == "stream-unknown" and state.metadata is not None:
            # The customer's receiver lost the call (restarted): announce it again, once, so the
            # rest of the audio can still be attributed.
            log.info("call %s: the customer does not know the stream, sending start again", call_id)
            result = await self._send("start", call_id, metadata=state.metadata.to_json())
        self._track(call_id, state, result)
        return result

    async def end(self, call_id: str, reason: str = "hangup") -> NotifyResult:
        state = self._calls.pop(call_id, None)
        result = await self._send("end", call_id, reason=reason[: protocol.MAX_REASON])
        if state is not None:
            self._track(call_id, state, result)
        return result

    async def run_heartbeats(self, call_id: str) -> None:
        """Heartbeat every ``heartbeat_seconds`` until cancelled; run it in the call's task group."""
        while True:
            await asyncio.sleep(self._settings.heartbeat_seconds)
            await self.heartbeat(call_id)

    def _track(self, call_id: str, state: _CallState, result: NotifyResult) -> None:
        """Log transitions only: a dead endpoint is one warning per call, not one per heartbeat."""
        if result.ok and not state.up:
            log.info("call %s: customer stream endpoint answers again", call_id)
        elif not result.ok and state.up:
            log.warning("call %s: customer stream endpoint lost [%s] (%s): its audio is dropped (R1.4)",
                        call_id, result.error_id, result.detail)
            if not state.interrupted:
                state.interrupted = True
                self.counters.streams_interrupted += 1
        state.up = result.ok

    async def _send(self, event: str, call_id: str, **fields: Any) -> NotifyResult:
        began = time.monotonic()
        try:
            body = protocol.encode(event, call_id, self._clock(), **fields)
            secret = self._settings.secret
            # Standard Webhooks: a new id per notification (none is retried), this moment's timestamp.
            msg_id, stamp = f"{event}-{uuid.uuid4().hex}", int(time.time())
            headers = {"Content-Type": "application/json", protocol.HEADER_EVENT: event,
                       HEADER_CALL_ID: call_id,
                       **webhook_headers(msg_id, stamp, webhook_digest(secret, msg_id, stamp, body))}
            if self._settings.legacy_signature:
                headers[HEADER_SIGNATURE] = protocol.sign(body, secret)
            check_url(self._settings.control_url, self._settings.networks)
            self.counters.notifications_sent += 1
            async with self._open().post(self._settings.control_url, data=body, headers=headers,
                                         allow_redirects=False) as resp:
                status = resp.status
                answer = await _json_or_empty(resp)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if (why := refused_in(exc)) is not None:
                return self._failed(call_id, event, REFUSED_DESTINATION, None, str(why), began)
            return self._failed(call_id, event, UNREACHABLE, None, f"{type(exc).__name__}: {exc}", began)
        except Exception as exc:  # never into the call flow
            log.exception("call %s: stream %s notification crashed", call_id, event)
            return self._failed(call_id, event, UNREACHABLE, None, repr(exc), began)
        elapsed = time.monotonic() - began
        if 200 <= status < 300:
            log.debug("call %s: stream %s acknowledged in %.3f s", call_id, event, elapsed)
            return NotifyResult(True, status=status, elapsed=elapsed)
        remote = answer.get("error_id")
        remote = remote if isinstance(remote, str) else None
        detail = f"HTTP {status}" + (f" {remote}: {answer.get('message', '')}" if remote else "")
        return self._failed(call_id, event, REJECTED, status, detail, began, remote)

    def _failed(self, call_id: str, event: str, error_id: str, status: int | None, detail: str,
                began: float, remote_error_id: str | None = None) -> NotifyResult:
        self.counters.notifications_failed += 1
        if error_id == UNREACHABLE:
            self.counters.endpoint_unreachable += 1
        else:
            self.counters.endpoint_rejected += 1
        log.debug("call %s: stream %s notification failed [%s] %s", call_id, event, error_id, detail)
        return NotifyResult(False, error_id, status, remote_error_id, detail, time.monotonic() - began)


async def _json_or_empty(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["REFUSED_DESTINATION", "REJECTED", "UNREACHABLE", "NotifierCounters", "NotifyResult",
           "StreamNotifier"]
