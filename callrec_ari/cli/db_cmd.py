"""``callrec db upgrade``: bring the database ($CALLREC_DATABASE_URL) to the latest migration."""

from __future__ import annotations

import argparse

from callrec_ari.db.engine import database_url
from callrec_ari.db.migrate import upgrade


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="database maintenance", description=__doc__)
    db_sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply every pending migration")
    up.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    url = database_url()
    upgrade(url)
    print(f"database at head: {url.split('@')[-1]}")
    return 0
