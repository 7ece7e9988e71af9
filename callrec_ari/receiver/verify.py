"""Checking an uploaded ZIP before it is acknowledged: readable, every CRC and every sha256 in its
manifest right, nothing extra, nothing missing. Blocking; run in a thread."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from callrec_ari.rules.manifest import MANIFEST_NAME, InvalidManifest, ParsedManifest, parse_manifest

READ_CHUNK = 1 << 20
MAX_MANIFEST = 1 << 20  # a manifest is a few KB; parsing is bounded in memory


class UploadRejected(Exception):
    """An upload the receiver refuses; ``error_id`` is stable, ``status`` the HTTP answer."""

    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id

    def to_json(self) -> dict[str, object]:
        return {"status": "rejected", "error_id": self.error_id, "message": str(self)}


def verify_zip(path: Path) -> ParsedManifest:
    try:
        with zipfile.ZipFile(path) as zf:
            listed = zf.namelist()
            names = set(listed)
            if len(names) != len(listed):
                # Two entries of one name: which one a tool extracts differs; refuse rather than guess.
                raise UploadRejected(422, "duplicate-entry", "the ZIP has two entries with the same name")
            if MANIFEST_NAME not in names:
                raise UploadRejected(422, "manifest-missing", f"the ZIP has no {MANIFEST_NAME}")
            if zf.getinfo(MANIFEST_NAME).file_size > MAX_MANIFEST:
                raise UploadRejected(422, "manifest-too-large", f"{MANIFEST_NAME} over {MAX_MANIFEST} bytes")
            with zf.open(MANIFEST_NAME) as fh:  # bounded even if the size in the header lies
                raw = fh.read(MAX_MANIFEST + 1)
            if len(raw) > MAX_MANIFEST:
                raise UploadRejected(422, "manifest-too-large", f"{MANIFEST_NAME} over {MAX_MANIFEST} bytes")
            manifest = parse_manifest(raw)
            expected = {f.name for f in manifest.segments}
            if extra := sorted(names - expected - {MANIFEST_NAME}):
                raise UploadRejected(422, "unexpected-file", f"files not in the manifest: {extra}")
            if missing := sorted(expected - names):
                raise UploadRejected(422, "segment-missing", f"segments listed but absent: {missing}")
            for entry in manifest.segments:
                digest, size = hashlib.sha256(), 0
                with zf.open(entry.name) as fh:  # raises BadZipFile on a CRC mismatch
                    while chunk := fh.read(READ_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                if digest.hexdigest() != entry.sha256 or size != entry.size:
                    raise UploadRejected(422, "checksum-mismatch",
                                         f"{entry.name}: sha256/size differ from the manifest")
            return manifest
    except InvalidManifest as exc:
        raise UploadRejected(422, exc.error_id, str(exc)) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        raise UploadRejected(422, "corrupt-zip", f"the ZIP is truncated or corrupted: {exc}") from exc


__all__ = ["UploadRejected", "verify_zip"]
