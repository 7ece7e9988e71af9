"""Reading a request's input (forms, JSON bodies, path and query parameters) with a clear refusal
(400, a ``<field>-invalid`` error id) for anything malformed, and the forms' redirect back."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from callrec_ari.portal.errors import BadInput


async def form_data(request: web.Request) -> MultiDictProxy[Any]:
    try:
        return await request.post()
    except ValueError as exc:  # malformed multipart or urlencoded body
        raise BadInput("body-invalid", f"the form could not be read: {exc}") from exc


def form_field(form: Any, name: str, limit: int = 1000) -> str:
    """A text field of a form ("" when absent)."""
    value = form.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise BadInput(f"{name.replace('_', '-')}-invalid", f"{name} is at most {limit} characters of text")
    return value


# The "done" message of a redirect is signed, so a link from elsewhere cannot make the portal show
# its own words in the portal's green box ("your contract is suspended, call ..."). A key per
# process: a message outliving a restart is simply not shown.
_DONE_KEY = secrets.token_bytes(32)


def _done_mac(message: str) -> str:
    return hmac.new(_DONE_KEY, message.encode(), hashlib.sha256).hexdigest()[:32]


def done(path: str, message: str) -> web.HTTPSeeOther:
    """POST/redirect/GET: back to ``path`` with a short message in the ``done`` query parameter
    (and its signature in ``ds``)."""
    sep = "&" if "?" in path else "?"
    return web.HTTPSeeOther(f"{path}{sep}done={quote(message)}&ds={_done_mac(message)}")


def done_message(request: web.Request) -> str:
    """The redirect's message, when this portal process wrote it; else nothing."""
    message, mac = request.query.get("done", ""), request.query.get("ds", "")
    return message if message and hmac.compare_digest(mac, _done_mac(message)) else ""


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise BadInput("body-invalid", "the body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise BadInput("body-invalid", "the body must be a JSON object")
    return data


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


def edit_fields(body: dict[str, Any]) -> tuple[str, str, bool | None, str | None]:
    """A connection edit's ``endpoint``, ``secret``, ``legacy_signature`` (absent, null or "" keeps
    the current value) and ``age_recipient`` (absent or null keeps it, "" removes it)."""
    values = {k: body.get(k) for k in ("endpoint", "secret", "legacy_signature", "age_recipient")}
    age = values["age_recipient"]
    if age is not None and not isinstance(age, str):
        raise BadInput("age-recipient-invalid", "age_recipient must be an age public key (age1…) or \"\"")
    legacy = values["legacy_signature"]
    if legacy is not None and not isinstance(legacy, bool):
        raise BadInput("legacy_signature-invalid", "legacy_signature must be true or false")
    return (
        str_field(values, "endpoint", required=False, limit=500) if values["endpoint"] is not None else "",
        str_field(values, "secret", required=False, limit=200) if values["secret"] is not None else "",
        legacy,
        age,
    )


def legacy_choice(form: Any) -> bool | None:
    """The connection form's ``legacy_signature`` select: "yes", "no", or absent (keep)."""
    value = form.get("legacy_signature", "")
    if value not in ("", "yes", "no"):
        raise BadInput("legacy_signature-invalid", "legacy_signature must be yes or no")
    return None if value == "" else value == "yes"


def int_param(request: web.Request, name: str) -> int:
    text = request.match_info.get(name, "")
    if not text.isdigit() or len(text) > 12:
        raise BadInput(f"{name}-invalid", f"{name} must be a positive integer")
    return int(text)


def query_int(request: web.Request, name: str, default: int, top: int = 1_000_000) -> int:
    text = request.query.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1 or len(text) > 9:
        raise BadInput(f"{name}-invalid", f"{name} must be a positive integer")
    return min(int(text), top)


__all__ = [
    "bool_field",
    "done",
    "done_message",
    "edit_fields",
    "form_data",
    "form_field",
    "int_param",
    "json_body",
    "legacy_choice",
    "query_int",
    "str_field",
]
