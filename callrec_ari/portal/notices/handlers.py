"""Notice handler pieces shared by the pages and the JSON API: the upload, the audio, the folder
Asterisk plays approved notices from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.notices import actions, queries
from callrec_ari.portal.params import form_data, int_param
from callrec_ari.portal.state import DB_KEY, SETTINGS_KEY, scope_of


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
            actions.upload_notice(
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


__all__ = ["accept_upload", "notice_audio", "notices_dir"]
