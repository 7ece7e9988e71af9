"""The OpenAPI 3.0 document of the JSON API (served at /api/openapi.json).

Kept next to the handlers' contracts by hand; tests/portal/test_openapi.py checks that every
/api/v1 route is documented and runs schemathesis over it.

Its words come from the message catalogs (issue 19): every text a person reads (the info title and
description, the operations' summaries and descriptions, the descriptions of parameters, schema
properties and responses) is marked with ``N_()`` where it is written, in English, and
:func:`document` translates them into the request's language (``portal/locale/ja/api.po``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from callrec_ari.portal.i18n import N_, current, gettext, speaking

# The keys whose string values are human-readable text (all marked with N_ below): anything else
# (paths, operationIds, names, types, enum values, formats) is left as it is.
_TEXT_KEYS = frozenset({"title", "summary", "description"})

_ERR = {"$ref": "#/components/schemas/Error"}
_OBJ: dict[str, Any] = {"type": "object"}


def _resp(ok: str = "200", schema: dict[str, Any] | None = None, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        ok: {"description": N_("OK"), "content": {"application/json": {"schema": schema or _OBJ}}}
    }
    for code in (400, 401, 403, 404, *errors):
        out[str(code)] = {"description": N_("refused"), "content": {"application/json": {"schema": _ERR}}}
    return out


def _json_body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _path(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _query(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}}


_B, _S = {"type": "boolean"}, {"type": "string"}
_SUSPEND = _json_body({"reason": _S, "lift": _B})


# A file connection's endpoint: https://…, http://… or sftp://user@host[:port]/folder; the secret (16-200
# printable characters) signs http(s) and stream deliveries and may be left out for sftp://.
_CONNECTION = _json_body(
    {"type": {"type": "string", "enum": ["file", "stream"]}, "endpoint": _S, "secret": _S},
    ["type", "endpoint"],
)
# An edit: a new endpoint, a new secret or both (absent, null or "" keeps the current value).
# ``legacy_signature``: also send the legacy X-Callrec-Signature beside the Standard Webhooks headers.
_CONNECTION_EDIT = _json_body(
    {"endpoint": {"type": "string", "nullable": True}, "secret": {"type": "string", "nullable": True},
     "legacy_signature": {"type": "boolean", "nullable": True},
     "age_recipient": {"type": "string", "nullable": True}}
)


def _enrollment_paths() -> dict[str, Any]:
    """The operator's enrollment (R5.1-R5.3), the same rules as ``callrec contracts``."""
    op, cid = _resp, [_path("id", "integer")]
    return {
        "/api/v1/operator/contracts/{id}/lines": {
            "post": {
                "summary": N_("Operator: enroll a line (R5.1 holder name, R5.2 services)"),
                "parameters": cid,
                "requestBody": _json_body(
                    {
                        "number": _S,
                        "endpoint": _S,
                        "holder_name": _S,
                        "services": {"type": "array", "items": _S},
                    },
                    ["number", "endpoint", "holder_name"],
                ),
                "responses": op("201"),
            }
        },
        "/api/v1/operator/contracts/{id}/lines/import": {
            "post": {
                "summary": N_(
                    "Operator: enroll lines from CSV text, all or nothing; 400 lists every bad row"
                ),
                "parameters": cid,
                "requestBody": _json_body({"csv": _S}, ["csv"]),
                "responses": op(),
            }
        },
        "/api/v1/operator/lines/{number}": {
            "delete": {
                "summary": N_("Operator: remove a line"),
                "parameters": [_path("number")],
                "responses": op(),
            }
        },
        "/api/v1/operator/contracts/{id}/connections": {
            "post": {
                "summary": N_("Operator: add a connection to the customer equipment (R1.5)"),
                "parameters": cid,
                "requestBody": _CONNECTION,
                "responses": op("201"),
            }
        },
        "/api/v1/operator/connections/{id}": {
            "patch": {
                "summary": N_("Operator: change a connection's endpoint or secret in place (same id)"),
                "parameters": cid,
                "requestBody": _CONNECTION_EDIT,
                "responses": op(),
            },
            "delete": {"summary": N_("Operator: remove a connection"), "parameters": cid, "responses": op()},
        },
    }


@cache
def _source() -> dict[str, Any]:
    """The document in English, its texts as written (the msgids)."""
    op = _resp
    paths: dict[str, Any] = {
        "/api/v1/session": {
            "post": {
                "summary": N_(
                    "Log in; sets the session cookie, returns the CSRF token. Only a JSON body "
                    "(415 json-required), and from a browser only the portal's own origin "
                    "(403 origin-refused)"
                ),
                "security": [],
                "requestBody": _json_body({"login": _S, "password": _S}, ["login", "password"]),
                "responses": op("200", None, 415, 429),
            },
            "delete": {"summary": N_("Log out"), "responses": op()},
        },
        "/api/v1/me": {"get": {"summary": N_("Who is logged in, and the CSRF token"), "responses": op()}},
        "/api/v1/lines": {
            "get": {
                "summary": N_("The contract's lines (search, paging)"),
                "parameters": [_query("q"), _query("page", "integer"), _query("per_page", "integer")],
                "responses": op(),
            }
        },
        "/api/v1/lines/recording": {
            "post": {
                "summary": N_("Start or stop recording on many lines at once (all or nothing; R4.1, R5.4)"),
                "requestBody": _json_body(
                    {"numbers": {"type": "array", "items": _S}, "recording_started": _B},
                    ["numbers", "recording_started"],
                ),
                "responses": op(),
            }
        },
        "/api/v1/lines/{number}": {
            "get": {"summary": N_("One line"), "parameters": [_path("number")], "responses": op()},
            "patch": {
                "summary": N_("Consent, notice, recording switch, caller ID default, mono or stereo files of "
                              "one line"),
                "parameters": [_path("number")],
                "requestBody": _json_body(
                    {"consent": _B, "recording_started": _B, "notice": _S, "withhold_caller_id": _B,
                     # null or "": the contract's choice
                     "audio_channels": {"type": "string", "enum": ["mono", "stereo", ""], "nullable": True}}
                ),
                "responses": op(),
            },
        },
        "/api/v1/contract": {
            "get": {"summary": N_("The contract and its connections"), "responses": op()},
            "patch": {
                "summary": N_("The notice-omission option (R2.3), mono or stereo files"),
                "requestBody": _json_body({"omit_notice": _B,
                                           "audio_channels": {"type": "string", "enum": ["mono", "stereo"]}}),
                "responses": op(),
            },
        },
        "/api/v1/connections": {
            "get": {"summary": N_("Connections to the customer equipment (R1.5)"), "responses": op()},
            "post": {
                "summary": N_("Add a connection (file: https://, http:// or sftp://user@host[:port]/folder)"),
                "requestBody": _CONNECTION,
                "responses": op("201"),
            },
        },
        "/api/v1/connections/{id}": {
            "patch": {
                "summary": N_("Change a connection's endpoint or secret in place: queued deliveries follow"),
                "parameters": [_path("id", "integer")],
                "requestBody": _CONNECTION_EDIT,
                "responses": op(),
            },
            "delete": {
                "summary": N_("Remove a connection"),
                "parameters": [_path("id", "integer")],
                "responses": op(),
            }
        },
        "/api/v1/connections/{id}/test": {
            "post": {
                "summary": N_("Send a test file to the customer equipment, as a real delivery is sent"),
                "parameters": [_path("id", "integer")],
                "responses": op(),
            }
        },
        "/api/v1/deliveries": {"get": {"summary": N_("Delivery status of recent calls"), "responses": op()}},
        "/api/v1/notices": {
            "get": {"summary": N_("Uploaded notices"), "parameters": [_query("state")], "responses": op()},
            "post": {
                "summary": N_("Upload a notice (PCM WAV); it waits for the operator (R2.7)"),
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "label": _S,
                                    "numbers": {"type": "array", "items": _S},
                                },
                                "required": ["file", "label"],
                            }
                        }
                    },
                },
                "responses": op("201", None, 413, 422),
            },
        },
        "/api/v1/notices/{id}/audio": {
            "get": {
                "summary": N_("The converted notice (8 kHz 16-bit mono WAV)"),
                "parameters": [_path("id", "integer")],
                "responses": {
                    "200": {
                        "description": N_("WAV"),
                        "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "404": {"description": N_("not found")},
                },
            }
        },
        "/api/v1/audit": {"get": {"summary": N_("Audit log of the contract"), "responses": op()}},
        "/api/v1/invoice": {
            "get": {
                "summary": N_("This month's (or ?month=YYYY-MM) charges (R6)"),
                "parameters": [_query("month")],
                "responses": op(),
            }
        },
        "/api/v1/operator/contracts": {
            "get": {"summary": N_("Operator: contracts"), "parameters": [_query("q")], "responses": op()},
            "post": {
                "summary": N_("Operator: create a contract (R5.1 holder name; R5.3 resellers are refused)"),
                "requestBody": _json_body({"holder_name": _S, "reseller": _B}, ["holder_name"]),
                "responses": op("201"),
            },
        },
        "/api/v1/operator/contracts/{id}": {
            "get": {
                "summary": N_("Operator: one contract, its lines"),
                "parameters": [_path("id", "integer"), _query("q"), _query("page", "integer")],
                "responses": op(),
            }
        },
        "/api/v1/operator/contracts/{id}/suspension": {
            "post": {
                "summary": N_("Operator: suspend (or lift) a contract (R5.5)"),
                "parameters": [_path("id", "integer")],
                "requestBody": _SUSPEND,
                "responses": op("200", None, 409),
            }
        },
        "/api/v1/operator/lines/{number}": {
            # Its DELETE (remove the line) is enrollment's (_enrollment_paths), merged in below.
            "patch": {
                "summary": N_(
                    "Operator: whether a line withholds its caller ID by default (184/186 per call)"
                ),
                "parameters": [_path("number")],
                "requestBody": _json_body({"withhold_caller_id": _B}, ["withhold_caller_id"]),
                "responses": op(),
            }
        },
        "/api/v1/operator/lines/{number}/suspension": {
            "post": {
                "summary": N_("Operator: suspend (or lift) a line (R5.5)"),
                "parameters": [_path("number")],
                "requestBody": _SUSPEND,
                "responses": op("200", None, 409),
            }
        },
        "/api/v1/operator/notices/{id}/approve": {
            "post": {
                "summary": N_("Operator: approve an uploaded notice; it plays from the next call"),
                "parameters": [_path("id", "integer")],
                "responses": op("200", None, 409),
            }
        },
        "/api/v1/operator/notices/{id}/reject": {
            "post": {
                "summary": N_("Operator: reject an uploaded notice"),
                "parameters": [_path("id", "integer")],
                "requestBody": _json_body({"reason": _S}, ["reason"]),
                "responses": op("200", None, 409),
            }
        },
        "/api/v1/operator/audit": {
            "get": {"summary": N_("Operator: the whole audit log"), "responses": op()}
        },
    }
    for path, operations in _enrollment_paths().items():  # a line's PATCH and DELETE share one path
        paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": N_("callrec Customer Control API"),
            "version": "1",
            "description": N_("Session cookie from POST /api/v1/session; send X-CSRF-Token on changes."),
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error_id", "message"],
                    "properties": {"error_id": _S, "message": _S},
                }
            },
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "callrec_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
        "security": [{"session": [], "csrf": []}],
    }


def _translated(node: Any) -> Any:
    """A fresh copy of ``node`` with its texts in the current language (nothing is shared with the
    cached source, so a caller may change what it gets)."""
    if isinstance(node, dict):
        return {
            key: gettext(value) if key in _TEXT_KEYS and isinstance(value, str) else _translated(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_translated(value) for value in node]
    return node


def document(locale: str | None = None) -> dict[str, Any]:
    """The OpenAPI document in ``locale``, else in the current language (the request's, which the
    middleware set: a handler needs no argument)."""
    with speaking(locale or current()):
        translated: dict[str, Any] = _translated(_source())
    return translated


__all__ = ["document"]
