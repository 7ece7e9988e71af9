"""``callrec receiver --stream-port``: file delivery and stream delivery served together."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp
import pytest

from callrec_ari.cli.receiver_cmd import register
from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.streaming.metadata import build_metadata
from callrec_ari.streaming.notify import StreamNotifier
from callrec_ari.streaming.settings import StreamSettings
from tests.streaming.conftest import SECRET, STARTED, RtpSender, rtp_packets, sine
from tests.support.network import LOOPBACK


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_flags() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["receiver", "--dir", "d", "--stream-port", "4000",
                              "--stream-idle-timeout", "3"])
    assert (args.stream_port, args.stream_host, args.stream_idle_timeout) == (4000, None, 3.0)
    assert parser.parse_args(["receiver", "--dir", "d"]).stream_port is None


async def test_serve_takes_files_and_streams_on_one_http_port(tmp_path: Path) -> None:
    http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(tmp_path, SECRET, "127.0.0.1", http_port, stop,
                                       StreamOptions(udp_port, idle_timeout=5)))
    sender = RtpSender(("127.0.0.1", udp_port))
    try:
        settings = StreamSettings(control_url=f"http://127.0.0.1:{http_port}/streams", rtp_port=udp_port,
                                  allow_destinations=LOOPBACK,
                                  secret=SECRET)
        meta = build_metadata(call_id="c-cli", line="1", caller="2", callee="3", direction="outgoing",
                              started_at=STARTED, rtp_source=sender.source, settings=settings)
        async with StreamNotifier(settings) as notifier:
            for _ in range(50):
                if await notifier.start(meta):
                    break
                await asyncio.sleep(0.05)  # the server is still binding
            await sender.send(rtp_packets(sine(1000, 0.2, 8000), "ulaw"))
            await asyncio.sleep(0.05)
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{http_port}/health") as r:
                assert r.status == 200  # file delivery's receiver is there too
        stop.set()
        await server  # stopping finalizes the open stream
    finally:
        sender.close()
        stop.set()
    doc = json.loads((tmp_path / "streams" / "c-cli.json").read_text())
    assert (doc["end_reason"], doc["frames"]) == ("receiver-stopped", 1600)


def test_the_receiver_takes_no_secret_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16: a command line is visible to every user (ps); the secret comes from a file or the
    environment, and --secret is refused with a message that says so."""
    from callrec_ari.cli import main

    monkeypatch.delenv("CALLREC_RECEIVER_SECRET", raising=False)
    assert main(["receiver", "--dir", str(tmp_path), "--secret", "s3cret"]) == 2
    assert "not taken on the command line" in capsys.readouterr().err
    assert main(["receiver", "--dir", str(tmp_path)]) == 2
    assert "--secret-file" in capsys.readouterr().err
    assert main(["receiver", "--dir", str(tmp_path), "--secret-file", str(tmp_path / "missing")]) == 2


def test_the_receiver_reads_a_receiver_table_and_flags_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 17: --config like every service ([receiver], CALLREC_RECEIVER_<KEY>), flags over it."""
    from callrec_ari.cli import build_parser, main
    from callrec_ari.cli.receiver_cmd import merged

    monkeypatch.delenv("CALLREC_CONFIG", raising=False)
    monkeypatch.setenv("CALLREC_RECEIVER_SECRET", "x" * 20)  # the secret itself: not a table key
    cfg = tmp_path / "receiver.toml"
    cfg.write_text(f'[receiver]\ndir = "{tmp_path / "in"}"\nport = 18190\nstream_port = 18191\n'
                   'accept_legacy_signature = true\n')
    args = merged(build_parser("receiver").parse_args(["receiver", "--config", str(cfg)]))
    assert (args.dir, args.port, args.stream_port) == (str(tmp_path / "in"), 18190, 18191)
    assert args.host == "127.0.0.1"
    assert args.accept_legacy_signature is True
    monkeypatch.setenv("CALLREC_RECEIVER_PORT", "18192")
    args = merged(build_parser("receiver").parse_args(["receiver", "--config", str(cfg), "--port", "18193"]))
    assert args.port == 18193  # the command line wins over the environment and the file
    assert merged(build_parser("receiver").parse_args(["receiver", "--config", str(cfg)])).port == 18192
    cfg.write_text('[receiver]\nfolder = "x"\n')
    assert main(["receiver", "--config", str(cfg)]) == 2
    assert "folder" in capsys.readouterr().err
    cfg.write_text("")
    assert main(["receiver", "--config", str(cfg)]) == 2
    assert "--dir" in capsys.readouterr().err
