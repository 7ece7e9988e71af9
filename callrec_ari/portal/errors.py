"""Portal errors: an HTTP status, a stable kebab-case ``error_id`` and a message a person can act on.

Domain errors of other capabilities are translated here, in one table, so every handler reports a
refusal the same way (JSON for the API, the error page for forms).
"""

from __future__ import annotations

from callrec_ari.contracts.service import ContractsError, EnrollmentRefused
from callrec_ari.contracts.service import NotFound as ContractNotFound
from callrec_ari.notices.audio import NoticeAudioError
from callrec_ari.notices.service import NoticeError


class PortalError(Exception):
    status = 400

    def __init__(self, error_id: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_id = error_id
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self)


class NotFound(PortalError):
    """Also what a user gets for another contract's objects: existence is not revealed."""

    status = 404

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what}-not-found", f"no {what.replace('-', ' ')} {key}")


class Forbidden(PortalError):
    status = 403


class LoginRequired(PortalError):
    status = 401

    def __init__(self) -> None:
        super().__init__("login-required", "log in first")


class BadInput(PortalError):
    status = 400


_NOTICE_STATUS = {"notice-too-large": 413, "line-not-found": 404}


def translate(exc: Exception) -> PortalError | None:
    """The portal error for a domain exception, or None when it is not a known refusal."""
    if isinstance(exc, PortalError):
        return exc
    if isinstance(exc, NoticeAudioError):
        return PortalError(exc.error_id, str(exc), _NOTICE_STATUS.get(exc.error_id, 422))
    if isinstance(exc, NoticeError):
        return PortalError(
            exc.error_id,
            str(exc),
            _NOTICE_STATUS.get(exc.error_id, 409 if exc.error_id == "notice-not-pending" else 400),
        )
    if isinstance(exc, ContractNotFound):
        return PortalError(exc.error_id, str(exc), 404)
    if isinstance(exc, EnrollmentRefused | ContractsError):
        return PortalError(exc.error_id, str(exc), 400)
    return None


__all__ = ["BadInput", "Forbidden", "LoginRequired", "NotFound", "PortalError", "translate"]
