"""Handler pieces shared by the pages and the JSON API: typed body fields, the notice upload, the
test file, the notice audio. Tenant scoping stays in :class:`~callrec_ari.portal.tenancy.Scope`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from callrec_ari.portal import audit, contract_actions, queries
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.testsend import send_test_file
from callrec_ari.portal.web import DB_KEY, SETTINGS_KEY, form_data, int_param, scope_of


def bool_field(body: dict[str, Any], key: str, required: bool = True) -> bool | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, bool):
        raise BadInput(f"{key.replace('_', '-')}-invalid", f"{key} must be true or false")
    return value


def str_field(body: dict[str, Any], key: str, required: bool = True, limit: int = 1000) -> str:
    value = body.get(key, None if required else "")
    if not isinstance(value, str) or len(value) > limit:
        raise BadInput(
            f"{key.replace('_', '-')}-invalid", f"{key} must be a string of at most {limit} characters"
        )
    return value


async def run_test_send(request: web.Request, connection_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    cid = scope.require_customer()

    def target(s: Any) -> tuple[str, str, str, str]:
        conn = scope.connection(s, connection_id)
        page = queries.lines_page(s, scope, cid, per_page=1)
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


async def accept_upload(request: web.Request) -> dict[str, Any]:
    """Shared by the API and the form: multipart fields ``file``, ``label``, ``numbers`` (repeated)."""
    scope = scope_of(request)
    form = await form_data(request)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise BadInput("notice-file-missing", "choose a WAV file to upload")
    label = form.get("label")
    numbers = [n for n in form.getall("numbers", []) if isinstance(n, str) and n]
    data = upload.file.read(request.app[SETTINGS_KEY].limits.max_bytes + 1)
    limits = request.app[SETTINGS_KEY].limits
    row = await request.app[DB_KEY].run(
        lambda s: queries.upload_dict(
            contract_actions.upload_notice(
                s,
                scope,
                data,
                label=label if isinstance(label, str) else "",
                filename=upload.filename or "",
                numbers=numbers,
                limits=limits,
            )
        )
    )
    return row


async def notice_audio(request: web.Request) -> web.Response:
    scope, uid = scope_of(request), int_param(request, "id")
    audio = await request.app[DB_KEY].run(lambda s: scope.notice_upload(s, uid).audio)
    return web.Response(body=audio, content_type="audio/wav")


def notices_dir(request: web.Request) -> Path:
    return Path(request.app[SETTINGS_KEY].notices_dir)


__all__ = ["accept_upload", "bool_field", "notice_audio", "notices_dir", "run_test_send", "str_field"]
