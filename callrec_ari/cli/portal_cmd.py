"""``callrec portal``: Customer Control and the operator console (docs/portal.md).

Migrates the database, optionally creates the demo accounts and contract, prints the URL, serves
until SIGINT/SIGTERM. Plain HTTP only on loopback: elsewhere it serves TLS itself (--tls-cert,
--tls-key) or runs behind a TLS-terminating proxy (--behind-proxy), and its cookies are always Secure.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import ssl
import sys
from dataclasses import replace

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.engine import unavailable
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.sealed import ENV_KEY, key_problem, keys
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.notices.audio import SOX
from callrec_ari.portal.app import make_app
from callrec_ari.portal.demo import create_demo, published_logins
from callrec_ari.portal.network import is_loopback, listen_refusal
from callrec_ari.portal.settings import (
    PortalConfigError,
    PortalSettings,
    load_portal_delivery,
    load_portal_settings,
)
from callrec_ari.settings import SettingsError, demo_mode, read_settings

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


def _published(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return published_logins(session)
    finally:
        engine.dispose()


def _tls(settings: PortalSettings) -> ssl.SSLContext | None:
    """The server's TLS context from ``tls_cert``/``tls_key`` (None: plain HTTP)."""
    if not settings.tls_cert:
        if settings.tls_key:
            raise PortalConfigError("portal-tls-invalid: tls_key without tls_cert")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise PortalConfigError(
            f"portal-tls-invalid: cannot load the certificate {settings.tls_cert}"
            f"{' and key ' + settings.tls_key if settings.tls_key else ''}: {exc}") from exc
    return context


async def _serve(settings: PortalSettings, delivery: DeliverySettings, host: str, port: int,
                 tls: ssl.SSLContext | None) -> None:
    runner = web.AppRunner(make_app(settings, delivery))
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls)
    await site.start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    scheme = "https" if tls else "http"
    print(f"callrec portal: {scheme}://{shown}:{port}/  (notices go to {settings.notices_dir})", flush=True)
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
            behind_proxy=True if args.behind_proxy else None,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
        delivery = load_portal_delivery(source)
        demo = demo_mode(source)
        tls = _tls(settings)
    except SettingsError as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if shutil.which(SOX) is None:
        # Outside Python, the portal needs sox to convert uploaded notices (notices/audio.py).
        print("callrec: error: sox-missing: the portal converts uploaded notices with sox, which is not "
              "on PATH (Debian: apt install sox)", file=sys.stderr)
        return EXIT_USAGE
    if (problem := key_problem()) is not None:
        print(f"callrec: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if keys() is None and not demo:
        print(f"callrec: warning: secrets-unsealed: connection secrets are stored as given; set {ENV_KEY} "
              "(callrec db secrets-key makes one) for every service, then run callrec db seal-secrets",
              file=sys.stderr)
    if args.create_demo and not demo:
        print("callrec: error: demo-refused: --create-demo makes logins whose passwords are published: "
              "only in demo mode (demo = true in the config file, or CALLREC_DEMO=1); create real users "
              "with `callrec users add`", file=sys.stderr)
        return EXIT_USAGE
    refusal = listen_refusal(args.host, tls=tls is not None, behind_proxy=settings.behind_proxy)
    if refusal:
        print(f"callrec: error: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    if not is_loopback(args.host):
        # Other machines reach it: a cookie must never travel in clear, whatever scheme a request says.
        settings = replace(settings, cookie_secure=True)
    try:
        upgrade(settings.database_url)
        if args.create_demo:
            _demo(settings.database_url)
        published = [] if demo else _published(settings.database_url)
    except SQLAlchemyError as exc:
        print(f"callrec: error: {unavailable(settings.database_url, exc)}", file=sys.stderr)
        return 1  # a runtime failure (usage errors exit 2)
    if published:
        print(f"callrec: error: secrets-refused: the demo logins {', '.join(published)} still open with "
              "their published passwords: set new ones (`callrec users passwd LOGIN`) or disable them "
              "(`callrec users disable LOGIN`); outside demo mode the portal does not serve them",
              file=sys.stderr)
        return EXIT_USAGE
    asyncio.run(_serve(settings, delivery, args.host, args.port, tls))
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "portal", help="run Customer Control and the operator console", description=__doc__
    )
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="TOML config file: its [portal] table, and [delivery] for the "
                        "platform's SSH key and timeouts ($CALLREC_CONFIG)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="listen address (default 127.0.0.1); plain HTTP only on loopback")
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
    parser.add_argument("--secure-cookies", action="store_true",
                        help="mark cookies Secure on every request (they are whenever it came over https)")
    parser.add_argument("--behind-proxy", action="store_true",
                        help="a TLS-terminating proxy forwards to the portal: trust its Forwarded / "
                        "X-Forwarded-Proto, -For, -Host (scheme, client address, host); "
                        "$CALLREC_PORTAL_BEHIND_PROXY")
    parser.add_argument("--tls-cert", metavar="PATH", default=None,
                        help="serve HTTPS with this PEM certificate chain ($CALLREC_PORTAL_TLS_CERT)")
    parser.add_argument("--tls-key", metavar="PATH", default=None,
                        help="its private key, unless in the certificate file ($CALLREC_PORTAL_TLS_KEY)")
    parser.set_defaults(handler=portal)


__all__ = ["portal", "register"]
