"""Connection secrets sealed at rest (docs/security.md, "Secrets").

The platform must read a connection's shared secret to sign with it, so it cannot store a hash; it
stores it encrypted with a key the database does not hold: a backup, a replica or an SQL injection
alone gives ciphertext. The key (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``) comes from
``CALLREC_SECRETS_KEY`` or the file named by ``CALLREC_SECRETS_KEY_FILE``; several keys, comma- or
line-separated, rotate: the first seals, every one opens. ``callrec db secrets-key`` makes one;
``callrec db seal-secrets`` seals what was stored before a key was set (and reseals under the first
key after a rotation).

Without a key, secrets are stored as given (the demo, the tests) and the services say so at start.
A sealed value read without the key that sealed it is an error, never a silent empty secret.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, TypeDecorator
from sqlalchemy.engine import Dialect

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

ENV_KEY = "CALLREC_SECRETS_KEY"
ENV_KEY_FILE = "CALLREC_SECRETS_KEY_FILE"
PREFIX = "fernet:"


class SecretsKeyError(RuntimeError):
    """No key, or not the key that sealed a stored secret, or a malformed key."""


@functools.lru_cache(maxsize=8)
def _keys(inline: str, path: str) -> MultiFernet | None:
    text = inline
    if not text and path:
        try:
            text = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretsKeyError(f"{ENV_KEY_FILE}: cannot read {path}: {exc}") from None
    keys = [k.strip() for k in text.replace(",", "\n").splitlines() if k.strip()]
    if not keys:
        return None
    # cryptography only when a key is set: every service reads the connections table, few seal.
    from cryptography.fernet import Fernet, MultiFernet

    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError as exc:
        raise SecretsKeyError(f"{ENV_KEY}: not a Fernet key (callrec db secrets-key makes one): "
                              f"{exc}") from None


def keys() -> MultiFernet | None:
    """The configured keys, or None (secrets stored as given)."""
    return _keys(os.environ.get(ENV_KEY, ""), os.environ.get(ENV_KEY_FILE, ""))


def key_problem() -> str | None:
    """Checked at each service's start: a malformed key stops it there, not at its first delivery."""
    try:
        keys()
    except SecretsKeyError as exc:
        return f"secrets-key-invalid: {exc}"
    return None


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def seal(value: str) -> str:
    fernet = keys()
    if fernet is None or value.startswith(PREFIX):
        return value
    return PREFIX + fernet.encrypt(value.encode()).decode()


def open_sealed(value: str) -> str:
    if not value.startswith(PREFIX):
        return value  # stored before a key was set (callrec db seal-secrets seals it)
    fernet = keys()
    if fernet is None:
        raise SecretsKeyError(f"a connection secret is sealed but no key is set ({ENV_KEY} or "
                              f"{ENV_KEY_FILE})")
    from cryptography.fernet import InvalidToken

    try:
        return fernet.decrypt(value[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise SecretsKeyError(f"a connection secret was sealed with a key not in {ENV_KEY}") from None


def reseal(value: str) -> str:
    """``value`` (plain or sealed) sealed under the first key."""
    fernet = keys()
    if fernet is None:
        raise SecretsKeyError(f"no key to seal with: set {ENV_KEY} or {ENV_KEY_FILE}")
    return PREFIX + fernet.encrypt(open_sealed(value).encode()).decode()


class SealedText(TypeDecorator[str]):
    """A text column whose values are sealed on the way in and opened on the way out."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else open_sealed(str(value))


__all__ = ["ENV_KEY", "ENV_KEY_FILE", "PREFIX", "SealedText", "SecretsKeyError", "key_problem", "keys",
           "new_key", "open_sealed", "reseal", "seal"]
