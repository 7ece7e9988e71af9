"""Readiness checks and the spool guard (disk nearly full)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.observability.metrics import SPOOL_FREE_BYTES, SPOOL_LOW


def spool_state(path: Path, min_free_bytes: int) -> tuple[bool, int]:
    """(room enough, free bytes) for the file system holding ``path``; updates the metrics."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    SPOOL_FREE_BYTES.set(free)
    low = free < min_free_bytes
    SPOOL_LOW.set(1 if low else 0)
    return not low, free


async def check_spool(path: Path, min_free_bytes: int) -> tuple[bool, str]:
    def run() -> tuple[bool, str]:
        room, free = spool_state(path, min_free_bytes)
        writable = os.access(path if path.exists() else path.parent, os.W_OK)
        ok = room and writable
        return ok, f"{free // (1 << 20)} MiB free" + ("" if writable else ", not writable")

    return await asyncio.to_thread(run)


async def check_database(sessions: sessionmaker[Session]) -> tuple[bool, str]:
    def run() -> tuple[bool, str]:
        with sessions() as session:
            session.execute(text("SELECT 1"))
        return True, "answering"

    return await asyncio.to_thread(run)
