"""``callrec deliver``: run the file delivery worker (R1.1-R1.3) until SIGINT/SIGTERM.

Settings: the ``[delivery]`` table of the config file ($CALLREC_CONFIG or --config), then
CALLREC_DELIVERY_* and CALLREC_DATABASE_URL. Migrates the database to the latest revision first
unless --no-migrate. ``--once`` runs one pass (purge, then deliver what is due) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from callrec_ari.db.migrate import upgrade
from callrec_ari.delivery.service import make_worker
from callrec_ari.delivery.settings import DeliveryConfigError, DeliverySettings, load_delivery_settings

log = logging.getLogger(__name__)
EXIT_OK = 0
EXIT_USAGE = 2


async def _run(settings: DeliverySettings, once: bool) -> None:
    worker = make_worker(settings)
    if once:
        await worker.recover()
        stats = await worker.run_once()
        log.info("one pass: %s", stats)
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("delivery worker %s: %s connection %r, outbox %s", worker.worker_id,
             settings.connection.type, settings.connection.name, settings.outbox)
    await worker.run(stop)


def deliver(args: argparse.Namespace) -> int:
    """Handler of ``deliver``."""
    try:
        settings = load_delivery_settings(args.config)
    except DeliveryConfigError as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.no_migrate:
        upgrade(settings.database_url)
    asyncio.run(_run(settings, args.once))
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("deliver", help="run the file delivery worker", description=__doc__)
    parser.add_argument("--config", metavar="PATH", default=None, help="TOML config file ($CALLREC_CONFIG)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--no-migrate", action="store_true", help="do not upgrade the database first")
    parser.set_defaults(handler=deliver)
