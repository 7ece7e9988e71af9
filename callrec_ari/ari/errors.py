"""Asterisk's error answers turned into domain errors with a stable ``error_id``."""

from __future__ import annotations


class AriError(Exception):
    """An ARI request failed. ``status`` is the HTTP status (0 when Asterisk was unreachable)."""

    error_id = "ari-error"

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}".strip())
        self.method = method
        self.path = path
        self.status = status
        self.message = message


class AriUnavailable(AriError):
    """Asterisk did not answer (connection refused, reset, timeout). ``refused``: no connection could
    be made at all (nothing listens: the process is gone), as against one that broke or timed out."""

    error_id = "ari-unavailable"

    def __init__(self, method: str, path: str, status: int, message: str, refused: bool = False) -> None:
        super().__init__(method, path, status, message)
        self.refused = refused


class AriBadRequest(AriError):
    error_id = "ari-bad-request"


class AriNotFound(AriError):
    """The channel, bridge, playback or recording does not exist (any more)."""

    error_id = "ari-not-found"


class AriConflict(AriError):
    """The resource is in the wrong state, e.g. "Channel not in Stasis application"."""

    error_id = "ari-conflict"


class AriUnprocessable(AriError):
    """A parameter names something Asterisk cannot use (unknown endpoint, bridge)."""

    error_id = "ari-unprocessable"


class AriServerError(AriError):
    error_id = "ari-server-error"


_BY_STATUS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}


def error_for(method: str, path: str, status: int, message: str) -> AriError:
    """The domain error for an HTTP error answer from ARI."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = AriServerError if status >= 500 else AriError
    return cls(method, path, status, message)
