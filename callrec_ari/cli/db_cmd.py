"""``callrec db``: database maintenance.

- ``upgrade``: bring the database ($CALLREC_DATABASE_URL) to the latest migration;
- ``secrets-key``: print a new key for sealing connection secrets (set it as $CALLREC_SECRETS_KEY, or
  in the file $CALLREC_SECRETS_KEY_FILE names, for every service);
- ``seal-secrets``: seal the connection secrets stored before a key was set, and reseal every one
  under the first key after a rotation (docs/security.md).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from callrec_ari.db.engine import database_url, masked_url, unavailable
from callrec_ari.db.migrate import upgrade


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="database maintenance", description=__doc__)
    db_sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply every pending migration")
    up.add_argument("--database-url", metavar="URL", default=None,
                    help="the database (default: $CALLREC_DATABASE_URL, then sqlite:///callrec.db)")
    up.set_defaults(handler=_upgrade)
    key = db_sub.add_parser("secrets-key", help="print a new key for sealing connection secrets")
    key.set_defaults(handler=_secrets_key)
    seal = db_sub.add_parser("seal-secrets", help="seal (or reseal under the first key) every stored "
                                                  "connection secret")
    seal.add_argument("--database-url", metavar="URL", default=None,
                      help="the database (default: $CALLREC_DATABASE_URL, then sqlite:///callrec.db)")
    seal.set_defaults(handler=_seal_secrets)


def _secrets_key(args: argparse.Namespace) -> int:
    from callrec_ari.db.sealed import new_key

    print(new_key())
    return 0


def _seal_secrets(args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from callrec_ari.db.engine import make_engine
    from callrec_ari.db.sealed import SecretsKeyError, reseal

    url = database_url()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # raw rows: the column type would open them
            rows = conn.execute(text("SELECT id, secret FROM connections")).all()
            for row_id, value in rows:
                conn.execute(text("UPDATE connections SET secret = :s WHERE id = :i"),
                             {"s": reseal(str(value)), "i": row_id})
    except SecretsKeyError as exc:
        print(f"callrec: error: secrets-key: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"callrec: error: {unavailable(url, exc)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{len(rows)} connection secrets sealed under the first key")
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    url = database_url()
    try:
        upgrade(url)
    except SQLAlchemyError as exc:
        # One line an operator can act on, not Alembic's traceback.
        print(f"callrec: error: {unavailable(url, exc)}", file=sys.stderr)
        return 1  # a runtime failure; usage errors are argparse's 2
    print(f"database at head: {masked_url(url)}")
    return 0
