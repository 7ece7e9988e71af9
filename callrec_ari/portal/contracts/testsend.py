""" "Send a test file": one second of silence packaged like a real call and posted to the connection.

The package follows docs/delivery-protocol.md exactly (ZIP, manifest, HMAC signature), so a customer
sees their equipment accept (or refuse) what real calls will send. Nothing is queued or retried.
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

from callrec_ari.delivery.http_transport import HttpTransport
from callrec_ari.delivery.packaging import package_call
from callrec_ari.delivery.transport import DeliveryFailure, Upload
from callrec_ari.portal import audit
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.lines.queries import lines_page
from callrec_ari.portal.state import DB_KEY, SETTINGS_KEY, scope_of


def _silence(path: Path, seconds: float = 1.0) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * int(8000 * seconds))


async def send_test_file(url: str, secret: str, line: str, timeout: float) -> dict[str, Any]:
    """The customer equipment's answer: ``{"ok": bool, "error_id", "message", "status"}``."""
    now = datetime.now(UTC)
    call_id = f"callrec-test-{uuid.uuid4().hex[:12]}"
    record = {
        "call_id": call_id,
        "direction": "outgoing",
        "line": line,
        "caller": line,
        "callee": "0000000000",
        "answered": (now - timedelta(seconds=1)).isoformat(),
        "ended": now.isoformat(),
    }
    with tempfile.TemporaryDirectory(prefix="callrec-testfile-") as tmp:
        wav = Path(tmp) / "segment.wav"
        await asyncio.to_thread(_silence, wav)
        package = await asyncio.to_thread(
            package_call, record, [(wav, now - timedelta(seconds=1))], Path(tmp) / "outbox"
        )
        transport = HttpTransport(url, secret, connect_timeout=timeout, read_timeout=timeout)
        try:
            upload = Upload(call_id, package.key, package.zip_path, package.size, package.sha256)
            receipt = await asyncio.wait_for(transport.send(upload), timeout * 2)
        except DeliveryFailure as exc:
            return {
                "ok": False,
                "call_id": call_id,
                "error_id": exc.error_id,
                "status": exc.status,
                "message": str(exc)[:500],
            }
        except TimeoutError:
            return {
                "ok": False,
                "call_id": call_id,
                "error_id": "timeout",
                "status": None,
                "message": "the customer equipment did not answer in time",
            }
        finally:
            await transport.close()
    return {
        "ok": True,
        "call_id": call_id,
        "error_id": None,
        "status": 200,
        "message": f"stored by the customer equipment ({receipt.detail.get('status', 'ok')})",
    }


async def run_test_send(request: web.Request, connection_id: int) -> dict[str, Any]:
    """The customer's "send a test file" on one of its connections, audited (pages and API alike)."""
    scope = scope_of(request)
    cid = scope.require_customer()

    def target(s: Any) -> tuple[str, str, str, str]:
        conn = scope.connection(s, connection_id)
        page = lines_page(s, scope, cid, per_page=1)
        return conn.type, conn.endpoint, conn.secret, (page["lines"] or [{"number": "test"}])[0]["number"]

    type_, url, secret, number = await request.app[DB_KEY].run(target)
    if type_ != "file":
        raise BadInput("test-file-stream", "a test file is sent on file delivery connections only (R1.1)")
    result = await send_test_file(url, secret, number, request.app[SETTINGS_KEY].test_send_timeout)
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


__all__ = ["run_test_send", "send_test_file"]
