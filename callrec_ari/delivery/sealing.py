"""Recordings sealed as they are packaged (age, X25519): only the customer can open them.

A contract may register an age public key (``age1…``) on its file connection. Each copy of a call for
that contract is then encrypted to that key right after packaging: ``<key>.zip.age`` replaces
``<key>.zip`` in the outbox, so what waits in the queue (up to seven days when the customer's server is
down, R1.3) is ciphertext, and the platform cannot read it back either. The upload is the age file
(``Content-Type: application/age``, ``X-Callrec-Encryption: age``); the customer decrypts it with its
private key (``age -d -i key.txt``, or any age library) and finds the usual ZIP. The cipher is age's,
through pyrage (Rust's ``age`` crate); nothing of our own.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Final

from callrec_ari.delivery.packaging import Package, file_digest, fsync_dir

SUFFIX: Final = ".age"
MAGIC: Final = b"age-encryption.org/v1\n"
MAX_RECIPIENT: Final = 100


class InvalidRecipient(ValueError):
    error_id = "age-recipient-invalid"


def check_recipient(text: str) -> str:
    """An age X25519 public key (``age1…``), checked; raises :class:`InvalidRecipient`."""
    import pyrage

    value = text.strip()
    if not value.startswith("age1") or len(value) > MAX_RECIPIENT:
        raise InvalidRecipient("an age public key starts with age1 (age-keygen prints it)")
    try:
        pyrage.x25519.Recipient.from_str(value)
    except pyrage.RecipientError as exc:
        raise InvalidRecipient(f"not an age public key: {exc}") from None
    return value


def is_sealed(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def seal_package(pkg: Package, recipient: str) -> Package:
    """Encrypt the package's ZIP to ``recipient``: ``<zip>.age`` written whole (``.part``, fsync,
    rename), then the plaintext ZIP removed. Blocking."""
    import pyrage

    target = pkg.zip_path.with_name(pkg.zip_path.name + SUFFIX)
    part = target.with_name(target.name + ".part")
    with pkg.zip_path.open("rb") as src, part.open("wb") as dst:
        pyrage.encrypt_io(src, dst, [pyrage.x25519.Recipient.from_str(recipient)])
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(part, target)
    pkg.zip_path.unlink()
    fsync_dir(target.parent)
    size, sha = file_digest(target)
    return replace(pkg, zip_path=target, size=size, sha256=sha)


__all__ = ["MAGIC", "SUFFIX", "InvalidRecipient", "check_recipient", "is_sealed", "seal_package"]
