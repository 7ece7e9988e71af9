"""``callrec db upgrade``: bring the database ($CALLREC_DATABASE_URL) to the latest migration."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from callrec_ari.db.engine import database_url, masked_url
from callrec_ari.db.migrate import upgrade


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="database maintenance", description=__doc__)
    db_sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply every pending migration")
    up.add_argument("--database-url", metavar="URL", default=None,
                    help="the database (default: $CALLREC_DATABASE_URL, then sqlite:///callrec.db)")
    up.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    url = database_url()
    try:
        upgrade(url)
    except SQLAlchemyError as exc:
        # One line an operator can act on, not Alembic's traceback.
        detail = str(exc).splitlines()[0].replace(url, masked_url(url))
        print(f"callrec: error: database-unavailable: {masked_url(url)}: {type(exc).__name__}: {detail}",
              file=sys.stderr)
        return 1  # a runtime failure; usage errors are argparse's 2
    print(f"database at head: {masked_url(url)}")
    return 0
