"""The reference receiver authenticates and bounds before it spends (issue 16): an unsigned body or a
signature outside the replay window is refused before a byte is read, an over-limit Content-Length
too, a stalled or trickling body is cut off, the manifest it parses is bounded, a ZIP with two entries
of one name is refused. Raw sockets, so the client can lie about lengths and send as slowly as an
attacker would."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from callrec_ari.delivery.packaging import package_call
from callrec_ari.receiver.app import UPLOAD_PATH, Receiver
from callrec_ari.rules.signing import HEADER_KEY, HEADER_SIGNATURE, webhook_headers
from tests.delivery.conftest import SECRET, call_record, free_port, segments_for
from tests.delivery.test_delivery_receiver import post, sign


class Raw:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port

    def spooled(self) -> list[Path]:
        incoming = self.directory / ".incoming"
        return list(incoming.iterdir()) if incoming.exists() else []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{UPLOAD_PATH}"

    async def request(self, length: int, body_chunks: list[bytes], pause: float = 0.0,
                      signed: bool = True, stamp: float | None = None) -> tuple[int, dict]:
        """``signed``: Standard Webhooks headers (a signature that will not match, at ``stamp``, now by
        default); else only the legacy header, which this receiver does not take alone."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        stamp = time.time() if stamp is None else stamp
        signature = (webhook_headers("c1", int(stamp), b"\0" * 32) if signed
                     else {HEADER_SIGNATURE: "sha256=" + "0" * 64})
        head = (f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/zip\r\n"
                f"Content-Length: {length}\r\n{HEADER_KEY}: c1\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in signature.items()) + "\r\n")
        writer.write(head.encode())
        await writer.drain()
        try:
            for chunk in body_chunks:
                await asyncio.sleep(pause)
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        raw = await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
        status = int(raw.split(b" ", 2)[1])
        return status, json.loads(raw.split(b"\r\n\r\n", 1)[1])


@pytest.fixture
async def raw(tmp_path: Path) -> AsyncIterator[Raw]:
    port = free_port()
    receiver = Receiver(tmp_path / "customer", SECRET, max_bytes=1 << 20, idle_timeout=0.5,
                        min_rate=64 * 1024)
    runner = web.AppRunner(receiver.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield Raw(tmp_path / "customer", port)
    await runner.cleanup()


async def test_an_unsigned_64_mib_body_writes_nothing(raw: Raw) -> None:
    # only the legacy header (no timestamp, so replayable): refused before the body is read
    status, answer = await raw.request(64 << 20, [b"x" * 65536] * 4, signed=False)
    assert (status, answer["error_id"]) == (401, "signature-missing")
    assert raw.spooled() == [] and not list(raw.directory.glob("*.zip"))


@pytest.mark.parametrize("age", [-3600, 301, 3600])
async def test_a_signature_outside_the_window_is_refused_before_the_body(raw: Raw, age: int) -> None:
    status, answer = await raw.request(64 << 20, [b"x" * 65536] * 4, stamp=time.time() - age)
    assert (status, answer["error_id"]) == (401, "signature-expired")
    assert raw.spooled() == []


async def test_a_10_gib_content_length_is_refused_at_once(raw: Raw) -> None:
    # No byte of the body is ever sent: a receiver that waited for it would answer 408 (body-timeout)
    status, answer = await raw.request(10 << 30, [])
    assert (status, answer["error_id"]) == (413, "too-large")
    assert raw.spooled() == []  # nothing read, nothing written


async def test_a_stalled_body_is_cut_off(raw: Raw) -> None:
    status, answer = await raw.request(1000, [b"x" * 10], pause=0.0)  # 990 bytes never come
    assert (status, answer["error_id"]) == (408, "body-timeout")
    assert raw.spooled() == []


async def test_a_trickling_body_is_cut_off(raw: Raw) -> None:
    # a byte every 0.3 s: never idle for 0.5 s, but far under 64 KB/s once the grace is over
    status, answer = await raw.request(1000, [b"x"] * 20, pause=0.3)
    assert (status, answer["error_id"]) == (408, "body-too-slow")
    assert raw.spooled() == []


async def test_a_zip_with_two_entries_of_one_name_is_refused(raw: Raw, tmp_path: Path) -> None:
    pkg = package_call(call_record("c1"), segments_for(tmp_path / "wav", "c1"), tmp_path / "outbox")
    out = io.BytesIO()
    with zipfile.ZipFile(pkg.zip_path) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        with pytest.warns(UserWarning, match="Duplicate name"):
            dst.writestr("segment-001.wav", b"RIFF....not the recording")
    body = out.getvalue()
    status, answer = await post(raw, body, "c1", sign(body))  # type: ignore[arg-type]
    assert (status, answer["error_id"]) == (422, "duplicate-entry")


async def test_an_oversized_manifest_is_refused_without_parsing_it(raw: Raw, tmp_path: Path) -> None:
    pkg = package_call(call_record("c1"), segments_for(tmp_path / "wav", "c1"), tmp_path / "outbox")
    out = io.BytesIO()
    with zipfile.ZipFile(pkg.zip_path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":  # 2 MB of padding deflates to a few KB: a memory bomb
                data = data[:-2] + b', "padding": "' + b" " * (2 << 20) + b'"}\n'
            dst.writestr(name, data)
    body = out.getvalue()
    status, answer = await post(raw, body, "c1", sign(body))  # type: ignore[arg-type]
    assert (status, answer["error_id"]) == (422, "manifest-too-large")
