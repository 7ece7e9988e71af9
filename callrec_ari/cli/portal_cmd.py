"""``callrec portal``: Customer Control and the operator console (docs/portal.md).

Migrates the database, optionally creates the demo accounts and contract, prints the URL, serves
until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.portal.app import make_app
from callrec_ari.portal.demo import create_demo
from callrec_ari.portal.settings import (
    PortalConfigError,
    PortalSettings,
    load_portal_delivery,
    load_portal_settings,
)
from callrec_ari.settings import SettingsError, read_settings

EXIT_OK = 0
EXIT_USAGE = 2


def _demo(url: str) -> None:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            logins = create_demo(session)
    finally:
        engine.dispose()
    print("demo accounts (login / password / role):")
    for item in logins:
        print(f"  {item.login} / {item.password} / {item.role}")


async def _serve(settings: PortalSettings, delivery: DeliverySettings, host: str, port: int) -> None:
    runner = web.AppRunner(make_app(settings, delivery))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"callrec portal: http://{shown}:{port}/  (notices go to {settings.notices_dir})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def portal(args: argparse.Namespace) -> int:
    try:
        source = read_settings(args.config, error=PortalConfigError)  # parsed once, for both tables
        settings = load_portal_settings(
            source,
            database_url=args.database_url,
            notices_dir=args.notices_dir,
            cookie_secure=True if args.secure_cookies else None,
        )
        delivery = load_portal_delivery(source)
    except SettingsError as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        upgrade(settings.database_url)
        if args.create_demo:
            _demo(settings.database_url)
    except SQLAlchemyError as exc:
        print(
            f"callrec: error: database-unavailable: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    asyncio.run(_serve(settings, delivery, args.host, args.port))
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "portal", help="run Customer Control and the operator console", description=__doc__
    )
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="TOML config file: its [portal] table, and [delivery] for the "
                        "platform's SSH key and timeouts ($CALLREC_CONFIG)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="listen port (default 8090)")
    parser.add_argument(
        "--create-demo",
        action="store_true",
        help="create the demo contract (lines 1001-1004) and demo logins, and print them",
    )
    parser.add_argument("--database-url", default=None, help="default $CALLREC_DATABASE_URL, then sqlite")
    parser.add_argument(
        "--notices-dir",
        default=None,
        help="where approved notices are written (default: the local Asterisk root's "
        "sounds/callrec/custom; $CALLREC_PORTAL_NOTICES_DIR)",
    )
    parser.add_argument("--secure-cookies", action="store_true", help="mark cookies Secure (behind HTTPS)")
    parser.set_defaults(handler=portal)


__all__ = ["portal", "register"]
