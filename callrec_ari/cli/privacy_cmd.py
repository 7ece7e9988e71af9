"""``callrec privacy purge``: apply the retention policy of call records and the audit log, and
close the contracts whose end date has passed.

Phone numbers of calls older than ``[privacy] numbers_days`` (395) are masked in the call records and
in the audit log's details; call records older than ``records_days`` (2,557) are removed; one audit
record says what was done (docs/privacy.md). An ended contract's lines are removed as of its end
date, its portal accounts disabled, and its connections removed once nothing of it waits for
delivery. Safe to run at any time and as often as wanted (the shipped systemd timer runs it daily).
``--dry-run`` counts without changing anything. The database is ``$CALLREC_DATABASE_URL`` (or
``--database-url``).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from callrec_ari.contracts.privacy import apply_retention
from callrec_ari.db import database_url, make_engine, make_sessionmaker
from callrec_ari.db.engine import unavailable
from callrec_ari.portal.closing import close_ended_contracts
from callrec_ari.rules.privacy import RetentionPolicy
from callrec_ari.settings import SettingsError, load_table, read_settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class PrivacyConfigError(SettingsError):
    pass


def load_policy(config: str | None) -> RetentionPolicy:
    """Defaults < ``[privacy]`` of the file < ``CALLREC_PRIVACY_<KEY>``."""
    policy = load_table(RetentionPolicy, read_settings(config, error=PrivacyConfigError), ("privacy",),
                        PrivacyConfigError)
    try:
        return policy.check()
    except ValueError as exc:
        raise PrivacyConfigError(f"[privacy] {exc}") from None


def _purge(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.config)
    except SettingsError as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    url = database_url()
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            actor, now = f"callrec privacy@{socket.gethostname()}", datetime.now(UTC)
            report = apply_retention(session, policy, now, actor, dry_run=args.dry_run)
            closing = None if args.dry_run else close_ended_contracts(session, now, actor)
    except SQLAlchemyError as exc:
        print(f"callrec: error: {unavailable(url, exc)}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        engine.dispose()
    closed = {} if closing is None else {"lines_removed": closing.lines_removed,
                                         "users_disabled": closing.users_disabled,
                                         "contracts_closed": closing.contracts_closed}
    print(json.dumps({"dry_run": args.dry_run, **report.to_json(), **closed}))
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("privacy", help="retention of call records and the audit log",
                            description=__doc__)
    actions = parser.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    purge = actions.add_parser("purge", help="mask old numbers, remove old call records (audited)")
    purge.add_argument("--config", metavar="PATH", default=None, help="TOML config file ($CALLREC_CONFIG)")
    purge.add_argument("--database-url", metavar="URL", default=None,
                       help="the database (default: $CALLREC_DATABASE_URL, then sqlite:///callrec.db)")
    purge.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")
    purge.set_defaults(handler=_purge)
