"""``callrec receiver``: the reference customer receiver (docs/delivery-protocol.md).

Stores each verified upload as DIR/<key>.zip. The secret comes from --secret-file or
$CALLREC_RECEIVER_SECRET, never from the command line.
With --stream-port it also takes stream delivery (docs/stream-protocol.md): RTP on that UDP port,
notifications on POST /streams and WebSocket streams (Asterisk's chan_websocket) on GET /media of the
HTTP port, each call written to DIR/streams/<call_id>.wav + .json. --stream-websocket alone: the
WebSocket transport without any UDP port.

Every option may also come from the ``[receiver]`` table of ``--config FILE`` (or $CALLREC_CONFIG), or
from ``CALLREC_RECEIVER_<KEY>`` (``dir``, ``host``, ``port``, ``stream_port`` (-1: none),
``stream_websocket``, ``stream_host``, ``stream_idle_timeout``, ``secret_file``,
``age_identity_file``, ``accept_legacy_signature``): defaults < file < environment < command line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.rules.secrets import DEMO_ENV, hmac_secret_problem, truthy
from callrec_ari.settings import SettingsError, load_table, read_settings

EXIT_OK = 0
EXIT_USAGE = 2


async def _run(directory: Path, secret: str, host: str, port: int, stream: StreamOptions | None,
               accept_legacy: bool, identities: tuple[str, ...]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(directory, secret, host, port, stop, stream, accept_legacy=accept_legacy,
                age_identities=identities)


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    dir: str = ""
    host: str = "127.0.0.1"
    port: int = 8089
    stream_port: int = -1  # -1: no RTP
    stream_websocket: bool = False
    stream_host: str = ""
    stream_idle_timeout: float = 10.0
    secret_file: str = ""
    age_identity_file: str = ""
    accept_legacy_signature: bool = False


class ReceiverConfigError(SettingsError):
    pass


def merged(args: argparse.Namespace) -> argparse.Namespace:
    """The command line over the settings (file, environment, defaults): a flag given wins."""
    source = read_settings(args.config, error=ReceiverConfigError)
    # $CALLREC_RECEIVER_SECRET is the secret itself, not a key of the table
    env = {k: v for k, v in source.env.items() if k != "CALLREC_RECEIVER_SECRET"}
    settings = load_table(ReceiverSettings, replace(source, env=env), ("receiver",), ReceiverConfigError)
    out = argparse.Namespace(**vars(args))
    for key in ("dir", "host", "port", "stream_host", "stream_idle_timeout", "secret_file",
                "age_identity_file"):
        if getattr(args, key) is None:
            setattr(out, key, getattr(settings, key) or None)
    if args.stream_port is None and settings.stream_port >= 0:
        out.stream_port = settings.stream_port
    out.stream_websocket = args.stream_websocket or settings.stream_websocket
    out.accept_legacy_signature = args.accept_legacy_signature or settings.accept_legacy_signature
    out.host = out.host or "127.0.0.1"
    out.port = 8089 if out.port is None else out.port
    out.stream_idle_timeout = 10.0 if out.stream_idle_timeout is None else out.stream_idle_timeout
    return out


def receiver(args: argparse.Namespace) -> int:
    """Handler of ``receiver``."""
    try:
        args = merged(args)
    except SettingsError as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.dir:
        print("callrec: error: the folder is required: --dir DIR (or dir in [receiver])", file=sys.stderr)
        return EXIT_USAGE
    if args.secret is not None:
        # Any user of the machine reads a command line (ps, /proc): no secret goes there.
        print("callrec: error: --secret is not taken on the command line (visible to every user): "
              "use --secret-file FILE or $CALLREC_RECEIVER_SECRET", file=sys.stderr)
        return EXIT_USAGE
    try:
        secret = (Path(args.secret_file).read_text().strip() if args.secret_file
                  else os.environ.get("CALLREC_RECEIVER_SECRET", ""))
    except OSError as exc:
        print(f"callrec: error: --secret-file: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not secret:
        print("callrec: error: the connection's secret is required: --secret-file FILE or "
              "$CALLREC_RECEIVER_SECRET", file=sys.stderr)
        return EXIT_USAGE
    if not truthy(os.environ.get(DEMO_ENV, "")) and (problem := hmac_secret_problem("the secret", secret)):
        print(f"callrec: error: secrets-refused: {problem}; give the connection's own secret "
              f"(or, for a demo on this machine only, {DEMO_ENV}=1)", file=sys.stderr)
        return EXIT_USAGE
    if args.stream_idle_timeout <= 0:
        print("callrec: error: --stream-idle-timeout must be > 0", file=sys.stderr)
        return EXIT_USAGE
    stream = None
    if args.stream_port is not None or args.stream_websocket:
        stream = StreamOptions(args.stream_port, args.stream_host or "", args.stream_idle_timeout)
    identities: tuple[str, ...] = ()
    if args.age_identity_file:
        try:
            text = Path(args.age_identity_file).read_text()
        except OSError as exc:
            print(f"callrec: error: --age-identity-file: {exc}", file=sys.stderr)
            return EXIT_USAGE
        # age-keygen's file: comments, then AGE-SECRET-KEY-1… lines
        identities = tuple(line.strip() for line in text.splitlines() if line.startswith("AGE-SECRET-KEY-"))
        if not identities:
            print("callrec: error: --age-identity-file: no AGE-SECRET-KEY-1… line in it", file=sys.stderr)
            return EXIT_USAGE
    asyncio.run(_run(Path(args.dir), secret, args.host, args.port, stream, args.accept_legacy_signature,
                     identities))
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("receiver", help="run the reference customer receiver", description=__doc__)
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="TOML config file with a [receiver] table ($CALLREC_CONFIG)")
    parser.add_argument("--dir", default=None, metavar="DIR", help="where verified ZIPs are stored")
    parser.add_argument("--secret-file", default=None, metavar="FILE",
                        help="a file holding the connection's HMAC secret (or $CALLREC_RECEIVER_SECRET)")
    parser.add_argument("--secret", default=None, help=argparse.SUPPRESS)  # refused: see receiver()
    parser.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default 8089)")
    parser.add_argument("--stream-port", type=int, default=None, metavar="UDP_PORT",
                        help="also take stream delivery: RTP on this UDP port (0 = any free port)")
    parser.add_argument("--stream-websocket", action="store_true",
                        help="take stream delivery over WebSocket (GET /media of the HTTP port); "
                             "implied by --stream-port")
    parser.add_argument("--stream-host", default=None,
                        help="UDP listen address for RTP (default: the --host address)")
    parser.add_argument("--stream-idle-timeout", type=float, default=None, metavar="SECONDS",
                        help="finalize a stream after this long without packets or notifications "
                             "(default 10)")
    parser.add_argument("--age-identity-file", default=None, metavar="FILE",
                        help="the customer's age private key (age-keygen's file): sealed uploads are "
                             "decrypted, checked and stored as their ZIP; without it they are stored "
                             "as they came (<key>.zip.age)")
    parser.add_argument("--accept-legacy-signature", action="store_true",
                        help="also take requests signed only with X-Callrec-Signature (no timestamp, so "
                             "replayable); by default the Standard Webhooks headers are required")
    parser.set_defaults(handler=receiver)
