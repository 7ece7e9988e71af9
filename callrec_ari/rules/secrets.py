"""Secrets the services refuse to start with (docs/security.md, "Secrets").

The repository ships secrets so that ``make run`` and the compose demo work at once: the reference
receiver's and the demo connections' ``demo-secret``, the ARI user's ``callrec`` password
(dialplan/ari.conf) and the demo logins' passwords. Published, they protect nothing: outside demo mode
(``demo = true`` in the config file's top level, or ``CALLREC_DEMO=1``) the app, the portal and the
reference receiver refuse to start with any of them, and with an HMAC secret shorter than
:data:`MIN_SECRET_LENGTH` characters (what the portal already asks of a connection's secret).

Pure: the callers bring the values and say whether this is the demo.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

MIN_SECRET_LENGTH: Final = 16
DEFAULT_ARI_PASSWORD: Final = "callrec"
DEMO_SECRETS: Final = frozenset({"demo-secret", "demo-admin-pass", "demo-operator-pass", "other-admin-pass",
                                 DEFAULT_ARI_PASSWORD})
DEMO_ENV: Final = "CALLREC_DEMO"


def hmac_secret_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot sign ``name`` outside the demo, or None. An empty value is the caller's
    to judge (unset: the feature is off, or required elsewhere)."""
    if not value:
        return None
    if value in DEMO_SECRETS:
        return f"{name} is a secret published with the demo"
    if len(value) < MIN_SECRET_LENGTH:
        return f"{name} is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def password_problem(name: str, value: str) -> str | None:
    """Why the ARI password cannot be used outside the demo, or None."""
    if value in DEMO_SECRETS:
        return f"{name} is the password shipped with the demo (dialplan/ari.conf): set your own"
    return None


def refusal(problems: Iterable[str | None]) -> str | None:
    """One line for the operator, or None when nothing is wrong."""
    found = [p for p in problems if p]
    if not found:
        return None
    return ("secrets-refused: " + "; ".join(found)
            + f" (outside demo mode; for a demo on this machine only: demo = true or {DEMO_ENV}=1)")


def truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on")


__all__ = ["DEFAULT_ARI_PASSWORD", "DEMO_ENV", "DEMO_SECRETS", "MIN_SECRET_LENGTH", "hmac_secret_problem",
           "password_problem", "refusal", "truthy"]
