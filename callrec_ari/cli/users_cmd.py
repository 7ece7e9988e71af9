"""``callrec users add | passwd | disable | enable | remove | list``: Customer Control accounts.

Operators (the carrier's staff) and customers' administrators (one contract each) log in to the
portal. A password never goes on the command line (other users of the machine see command lines):
it is read from ``--password-file FILE``, or from standard input (asked for when it is a terminal).
Every change is written to the audit log. The database is ``$CALLREC_DATABASE_URL``
(or ``--database-url``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from callrec_ari.contracts.models import Contract
from callrec_ari.db import database_url, make_engine, make_sessionmaker
from callrec_ari.db.engine import unavailable
from callrec_ari.db.models import AuditRecord
from callrec_ari.portal.auth.actions import change_password, create_user, set_disabled
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, OPERATOR, PortalSession, PortalUser
from callrec_ari.portal.errors import BadInput

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
ACTOR = "callrec users (cli)"


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        return Path(args.password_file).read_text().strip()
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise BadInput("password-mismatch", "the two passwords differ")
        return first
    return sys.stdin.readline().strip()


def _audit(session: Session, action: str, user: PortalUser, **details: object) -> None:
    session.add(AuditRecord(at=datetime.now(UTC), actor=ACTOR, action=action, subject=user.login,
                            reason="operator", details={"role": user.role, **details}))


def _add(session: Session, args: argparse.Namespace) -> dict[str, object]:
    if args.role == CUSTOMER_ADMIN and session.get(Contract, args.contract) is None:
        raise BadInput("contract-not-found", f"no contract {args.contract}")
    user = create_user(session, args.login, _password(args), role=args.role,
                       contract_id=args.contract if args.role == CUSTOMER_ADMIN else None,
                       display_name=args.name or "")
    _audit(session, "user-added", user, contract=user.contract_id)
    return _row(user)


def _remove(session: Session, login: str) -> dict[str, object]:
    """The account and its sessions are deleted (it can no longer be enabled again); the audit log
    keeps who it was and who removed it."""
    user = session.scalars(select(PortalUser).where(PortalUser.login == login)).first()
    if user is None:
        raise BadInput("user-not-found", f"no account {login!r}")
    row = _row(user)
    _audit(session, "user-removed", user)
    session.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
    session.delete(user)
    return {**row, "removed": True}


def _row(user: PortalUser) -> dict[str, object]:
    return {"login": user.login, "name": user.display_name, "role": user.role,
            "contract": user.contract_id, "disabled": user.disabled}


def users(args: argparse.Namespace) -> int:
    url: str = args.database_url or database_url()
    sessions = make_sessionmaker(make_engine(url))
    try:
        with sessions.begin() as session:
            if args.users_command == "add":
                out: object = _add(session, args)
            elif args.users_command == "passwd":
                user = change_password(session, args.login, _password(args))
                _audit(session, "user-password-changed", user)
                out = _row(user)
            elif args.users_command == "remove":
                out = _remove(session, args.login)
            elif args.users_command in ("disable", "enable"):
                user = set_disabled(session, args.login, args.users_command == "disable")
                _audit(session, f"user-{args.users_command}d", user)
                out = _row(user)
            else:
                out = [_row(u) for u in session.scalars(select(PortalUser).order_by(PortalUser.login))]
    except BadInput as exc:
        print(f"callrec: error: {exc.error_id}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"callrec: error: --password-file: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as exc:
        print(f"callrec: error: {unavailable(url, exc)}", file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(out, ensure_ascii=False))
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("users", help="portal accounts (operators, customers' administrators)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="default: $CALLREC_DATABASE_URL")
    parser.set_defaults(handler=users)
    users_sub = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    # allow_abbrev=False: "--password x" must not pass as an abbreviation of --password-file.
    add = users_sub.add_parser("add", help="a new account (password from --password-file or stdin)",
                               allow_abbrev=False)
    add.add_argument("login")
    add.add_argument("--role", required=True, choices=(OPERATOR, CUSTOMER_ADMIN))
    add.add_argument("--contract", type=int, default=None, help="the customer administrator's contract id")
    add.add_argument("--name", default=None, help="the name shown in the portal")
    passwd = users_sub.add_parser("passwd", help="a new password (ends the user's sessions)",
                                  allow_abbrev=False)
    passwd.add_argument("login")
    for sub_parser in (add, passwd):
        sub_parser.add_argument("--password-file", default=None, metavar="FILE",
                                help="read the password from FILE (default: standard input)")
    for action in ("disable", "enable"):
        users_sub.add_parser(action, help=f"{action} an account").add_argument("login")
    users_sub.add_parser("remove", help="delete an account and its sessions (audited)").add_argument("login")
    users_sub.add_parser("list", help="every account, as JSON")
