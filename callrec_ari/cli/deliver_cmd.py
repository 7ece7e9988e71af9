"""``callrec deliver``: run the file delivery worker (R1.1-R1.3) until SIGINT/SIGTERM.

Settings: the ``[delivery]`` table of the config file ($CALLREC_CONFIG or --config), then
CALLREC_DELIVERY_* and CALLREC_DATABASE_URL. Migrates the database to the latest revision first
unless --no-migrate. ``--once`` runs one pass (purge, then deliver what is due) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from sqlalchemy.exc import SQLAlchemyError

from callrec_ari.cli.loop import EventLoopChoiceError, loop_factory
from callrec_ari.cli.loop import run as run_on_loop
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.engine import unavailable
from callrec_ari.delivery.queue import DeliveryQueue
from callrec_ari.delivery.service import make_worker
from callrec_ari.delivery.settings import DeliveryConfigError, DeliverySettings, load_delivery_settings
from callrec_ari.model.clock import utcnow
from callrec_ari.observability import memory
from callrec_ari.observability.checks import check_database
from callrec_ari.observability.http import serve as serve_http
from callrec_ari.observability.metrics import DELIVERY_QUEUE_AGE, DELIVERY_QUEUE_DEPTH

log = logging.getLogger(__name__)
EXIT_OK = 0
EXIT_USAGE = 2


async def _gauges(queue: DeliveryQueue, every: float) -> None:
    """The queue as Prometheus sees it: depth and the age of the oldest waiting recording."""
    while True:
        try:
            count, oldest = await asyncio.to_thread(queue.backlog)
        except Exception as exc:  # the database is down: /readyz says so; the gauges keep their value
            log.warning("delivery queue gauges not updated: %s", exc)
        else:
            DELIVERY_QUEUE_DEPTH.set(count)
            DELIVERY_QUEUE_AGE.set((utcnow() - oldest).total_seconds() if oldest else 0)
        await asyncio.sleep(every)


async def _run(settings: DeliverySettings, once: bool) -> None:
    sessions = make_sessionmaker(make_engine(settings.database_url))
    worker = make_worker(settings, sessions)
    if once:
        await worker.recover()
        stats = await worker.run_once()
        log.info("one pass: %s", stats)
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    memory.install(loop)
    log.info("delivery worker %s: %s connection %r, outbox %s", worker.worker_id,
             settings.connection.type, settings.connection.name, settings.outbox)
    http = None
    if settings.http_port:
        # This process counts the deliveries: it serves its own metrics.
        try:
            http = await serve_http({"database": lambda: check_database(sessions)}, settings.http_host,
                                    settings.http_port)
        except OSError as exc:  # delivering matters more than being watched: say so, go on
            log.error("worker metrics not served on %s:%d: %s", settings.http_host, settings.http_port, exc,
                      extra={"alert": "metrics-unavailable"})
    gauges = asyncio.create_task(_gauges(DeliveryQueue(sessions, settings.node, utcnow),
                                         max(settings.poll_interval, 15.0)), name="queue-gauges")
    try:
        await worker.run(stop)
    finally:
        gauges.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gauges
        if http is not None:
            await http.cleanup()


def deliver(args: argparse.Namespace) -> int:
    """Handler of ``deliver``."""
    try:
        factory = loop_factory()
        settings = load_delivery_settings(args.config)
    except (DeliveryConfigError, EventLoopChoiceError) as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from callrec_ari.db.sealed import key_problem

    if (problem := key_problem()) is not None:
        print(f"callrec: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if not args.no_migrate:
        from callrec_ari.db.migrate import upgrade  # Alembic only when migrating: the worker stays small

        try:
            upgrade(settings.database_url)
        except SQLAlchemyError as exc:
            print(f"callrec: error: {unavailable(settings.database_url, exc)}", file=sys.stderr)
            return 1  # a runtime failure (usage errors exit 2)
    run_on_loop(_run(settings, args.once), factory)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("deliver", help="run the file delivery worker", description=__doc__)
    parser.add_argument("--config", metavar="PATH", default=None, help="TOML config file ($CALLREC_CONFIG)")
    parser.add_argument("--database-url", metavar="URL", default=None,
                        help="the database (default: $CALLREC_DATABASE_URL, then sqlite:///callrec.db)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--no-migrate", action="store_true", help="do not upgrade the database first")
    parser.set_defaults(handler=deliver)
