""" "Send a test file": one second of silence, delivered like a real recording of the contract's.

The delivery worker's own code path, step by step: the connection's route is read with
:func:`~callrec_ari.delivery.routing.route_for_connection` (contract, connection id, the ``[delivery]``
settings), its transport built by :func:`~callrec_ari.delivery.routing.make_route_transport`, the call
packaged by :func:`~callrec_ari.delivery.packaging.package_call` with the contract in the call record
(so the manifest names it and the idempotency key is the contract's copy's), and sent with
``transport.send(Upload(...))``. An ``https://`` connection gets the signed POST and an ``sftp://`` one
the SFTP upload with the platform's key: what real calls will send. Nothing is queued or retried; the
answer is shown and audited.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from callrec_ari.delivery.packaging import package_call
from callrec_ari.delivery.routing import Route, make_route_transport, route_for_connection
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.delivery.transport import DeliveryFailure, Receipt, Upload
from callrec_ari.portal import audit
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.lines.queries import lines_page
from callrec_ari.portal.state import DB_KEY, DELIVERY_KEY, SETTINGS_KEY, scope_of


def _silence(path: Path, seconds: float = 1.0) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * int(8000 * seconds))


def test_call_record(contract: str, line: str, now: datetime) -> dict[str, Any]:
    """A one-second outgoing call of the contract's line, as the call flow hands one over."""
    return {
        "call_id": f"callrec-test-{uuid.uuid4().hex[:12]}",
        "direction": "outgoing",
        "line": line,
        "caller": line,
        "callee": "0000000000",
        "answered": (now - timedelta(seconds=1)).isoformat(),
        "ended": now.isoformat(),
        "contract": contract,
    }


def _failed(call_id: str, error_id: str, message: str, status: int | None = None) -> dict[str, Any]:
    return {"ok": False, "call_id": call_id, "error_id": error_id, "status": status, "message": message[:500]}


def _accepted(receipt: Receipt) -> tuple[int | None, str]:
    """The HTTP status (None for SFTP) and what the customer is told."""
    if receipt.transport == "sftp":
        return None, f"written to {receipt.detail.get('path', 'the folder')} on the SFTP server"
    status = receipt.detail.get("status")
    answer = receipt.detail.get("answer") or {}
    state = answer.get("status") if isinstance(answer, dict) else None
    # Only the protocol's word, never other text of the server's answer (docs/security.md).
    state = state if state in ("stored", "duplicate") else "acknowledged"
    return status, f"{state} by the customer equipment (HTTP {status})"


async def send_test_file(route: Route, contract: str, line: str, delivery: DeliverySettings,
                         timeout: float) -> dict[str, Any]:
    """The customer equipment's answer: ``{"ok", "call_id", "error_id", "status", "message"}``."""
    now = datetime.now(UTC)
    record = test_call_record(contract, line, now)
    call_id = record["call_id"]
    with tempfile.TemporaryDirectory(prefix="callrec-testfile-") as tmp:
        wav = Path(tmp) / "segment.wav"
        await asyncio.to_thread(_silence, wav)
        package = await asyncio.to_thread(
            package_call, record, [(wav, now - timedelta(seconds=1))], Path(tmp) / "outbox"
        )
        transport = make_route_transport(route, delivery)
        try:
            upload = Upload(call_id, package.key, package.zip_path, package.size, package.sha256)
            receipt = await asyncio.wait_for(transport.send(upload), timeout)
        except DeliveryFailure as exc:
            return _failed(call_id, exc.error_id, str(exc), exc.status)
        except TimeoutError:
            return _failed(call_id, "timeout", f"the customer equipment did not answer within {timeout:g} s")
        finally:
            await transport.close()
    status, message = _accepted(receipt)
    return {"ok": True, "call_id": call_id, "error_id": None, "status": status, "message": message}


async def run_test_send(request: web.Request, connection_id: int) -> dict[str, Any]:
    """The customer's "send a test file" on one of its connections, audited (pages and API alike)."""
    scope = scope_of(request)
    cid = scope.require_customer()
    delivery = request.app[DELIVERY_KEY]

    def target(s: Session) -> tuple[Route | DeliveryFailure, str]:
        conn = scope.connection(s, connection_id)  # another contract's: 404, before anything is read
        if conn.type != "file":
            raise BadInput("test-file-stream", "a test file is sent on file delivery connections only (R1.1)")
        page = lines_page(s, scope, cid, per_page=1)
        number = (page["lines"] or [{"number": "test"}])[0]["number"]
        try:
            return route_for_connection(s, str(cid), conn.id, delivery), number
        except DeliveryFailure as exc:  # an endpoint the worker could not deliver to either
            return exc, number

    route, number = await request.app[DB_KEY].run(target)
    if isinstance(route, DeliveryFailure):
        result = _failed("", route.error_id, str(route))
    else:
        result = await send_test_file(route, str(cid), number, delivery,
                                      request.app[SETTINGS_KEY].test_send_timeout)
    await request.app[DB_KEY].run(
        lambda s: audit.record(
            s,
            scope,
            "test-file-sent",
            cid,
            connection=connection_id,
            ok=result["ok"],
            error_id=result["error_id"],
        )
    )
    return result


__all__ = ["run_test_send", "send_test_file", "test_call_record"]
