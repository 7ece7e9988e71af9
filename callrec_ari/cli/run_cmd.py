"""``callrec run``: the ARI application in the foreground (``make run`` adds a local Asterisk)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from callrec_ari.app import CallrecApp
from callrec_ari.cli.loop import EventLoopChoiceError, loop_factory
from callrec_ari.cli.loop import run as run_on_loop
from callrec_ari.config import Config, ConfigError, load_config
from callrec_ari.db import database_url, make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.sealed import key_problem
from callrec_ari.delivery import RecordingSubmitter, load_delivery_settings
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.observability import loop_lag, memory
from callrec_ari.observability.logs import setup_logging
from callrec_ari.pbx.local import AsteriskTarget, LocalAsterisk, external_target
from callrec_ari.rules.secrets import hmac_secret_problem, password_problem, refusal
from callrec_ari.settings import SettingsError, SettingsSource, read_settings
from callrec_ari.streaming.settings import StreamSettings, configured, load_stream_settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run", help="run the ARI application in the foreground",
        description="The recording app: takes every call of an enrolled line from Asterisk over ARI, plays "
        "the notice and the tone, records or streams as the rules say, and hands each recording to file "
        "delivery. Serves /metrics, /healthz and /readyz on http_port (8091). SIGTERM drains: calls in "
        "progress finish, new ones connect unrecorded.")
    parser.add_argument("--config", help="TOML configuration file (default: $CALLREC_CONFIG)")
    parser.add_argument("--database-url", metavar="URL", default=None,
                        help="the database (default: $CALLREC_DATABASE_URL, then sqlite:///callrec.db)")
    parser.add_argument(
        "--with-asterisk", action="store_true",
        help="also start the project's Asterisk 22 (unless CALLREC_ARI_URL names one already running)",
    )
    parser.add_argument("--asterisk-log", default="asterisk.log", help="where the local Asterisk logs")
    parser.add_argument("--no-migrate", action="store_true", help="do not upgrade the database first")
    parser.add_argument(
        "--no-delivery", action="store_true",
        help="record only: do not package and queue recordings for file delivery",
    )
    parser.set_defaults(handler=_run)


def banner(config: Config, target: AsteriskTarget) -> str:
    lines = [
        "",
        "callrec is running. Register a softphone with one of these SIP accounts:",
        f"  server {target.sip_host}:{target.sip_port} (UDP)",
    ]
    for line in config.lines:
        lines.append(f"  user {line.endpoint:<6} password callrec{line.endpoint:<8} number {line.number}")
    lines += [
        "Dial another line's number to call it, or any other number to reach the demo's outside party",
        "(it answers and echoes you after the notice and the tone).",
        f"Recordings: {target.recording_dir or 'on the Asterisk host'}/{config.recording_prefix}/<call id>/",
        f"ARI: {target.ari_url}   Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Loaded:
    """Everything ``callrec run`` reads from the settings file, which it parses once."""

    source: SettingsSource
    config: Config
    delivery: DeliverySettings | None  # None: --no-delivery
    stream: StreamSettings | None  # None: no [stream] table and no CALLREC_STREAM_*
    allow_destinations: tuple[str, ...] = ()  # [delivery]'s, for streams too (even with --no-delivery)


def load(args: argparse.Namespace) -> Loaded:
    """Parse the file once; every table is built from that one document (SettingsError if bad)."""
    source = read_settings(args.config, error=ConfigError)
    config = load_config(source)
    delivery = None if args.no_delivery else load_delivery_settings(source)
    allowed = delivery.allow_destinations if delivery is not None else _allowed_anyway(source)
    return Loaded(
        source=source,
        config=config,
        delivery=delivery,
        stream=load_stream_settings(source) if configured(source) else None,
        allow_destinations=allowed,
    )


def _allowed_anyway(source: SettingsSource) -> tuple[str, ...]:
    """``[delivery] allow_destinations`` with --no-delivery (streams still need it): the rest of the
    table is not this command's to judge then."""
    try:
        return load_delivery_settings(source).allow_destinations
    except SettingsError:
        return ()


def secrets_refusal(config: Config, delivery: DeliverySettings | None,
                    stream: StreamSettings | None) -> str | None:
    """Why the app must not start with these secrets (rules/secrets.py), or None (also in demo mode)."""
    if config.demo:
        return None
    problems = [password_problem("ari_password", config.ari_password)]
    if config.recording_engine in ("mixmonitor", "dialplan"):
        problems.append(password_problem("ami_password", config.ami_password))
    if stream is not None:
        problems.append(hmac_secret_problem("[stream] secret", stream.secret))
    if delivery is not None and delivery.connection.type == "http":
        problems.append(hmac_secret_problem("[delivery.connection] secret", delivery.connection.secret))
    return refusal(problems)


async def _main(args: argparse.Namespace, loaded: Loaded) -> int:
    config = loaded.config
    asterisk: LocalAsterisk | None = None
    target = external_target()
    if args.with_asterisk and target is None:
        asterisk = LocalAsterisk(Path(args.asterisk_log))
        target = await asterisk.start()
    try:
        if target is not None:
            config = load_config(
                loaded.source, ari_url=target.ari_url, ari_username=target.username,
                ari_password=target.password,
                asterisk_recording_dir=str(target.recording_dir or config.asterisk_recording_dir),
            )
        if (refused := secrets_refusal(config, loaded.delivery, loaded.stream) or key_problem()) is not None:
            print(f"callrec: error: {refused}", file=sys.stderr)
            return 2
        submitter = None
        spool = Path("spool")
        if loaded.delivery is not None:
            submitter = RecordingSubmitter(loaded.delivery, segment_seconds=config.segment_seconds)
            spool = Path(loaded.delivery.spool_dir)
        url = database_url()
        if not args.no_migrate:
            await asyncio.to_thread(upgrade, url)
        db = make_sessionmaker(make_engine(url))
        app = CallrecApp(config, submitter=submitter, spool_dir=spool, db=db,
                         stream_settings=loaded.stream, allow_destinations=loaded.allow_destinations)
        runner = asyncio.create_task(app.run())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        memory.install(loop)
        lag_watch = loop_lag.install(loop)
        ready = asyncio.create_task(app.ready.wait())
        await asyncio.wait({ready, runner}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            runner.result()
        if target is not None:
            print(banner(config, target), flush=True)
        await asyncio.wait({asyncio.create_task(stop.wait()), runner}, return_when=asyncio.FIRST_COMPLETED)
        if not runner.done():
            # SIGTERM/Ctrl-C: drain (no new calls, those in progress may finish), then end the rest;
            # their recordings are finalized and handed to delivery on the way out.
            await app.drain()
        runner.cancel()
        lag_watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        return 0
    finally:
        if asterisk is not None:
            await asyncio.to_thread(asterisk.stop)


def _run(args: argparse.Namespace) -> int:
    try:
        factory = loop_factory()
        loaded = load(args)
    except (SettingsError, EventLoopChoiceError) as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return 2
    setup_logging(json_lines=loaded.config.log_format == "json",
                  level=logging.getLogger().getEffectiveLevel(), background=True)
    # The app's threads (the journal's, planning; the hand-over's with hand_over_processes = 0) each
    # take the interpreter lock back after every system call; with the event loop busy, each waited
    # up to the switch interval (5 ms by default) every time: at 10 calls/s the journal's writes
    # queued for 0.3 s (p90) and calls waited 1.3 s (p99) for their plan. 0.5 ms cut them to 0.06 s
    # and 0.5 s for the same CPU (docs/performance.md).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return run_on_loop(_main(args, loaded), factory)


SWITCH_INTERVAL_S = 0.0005
