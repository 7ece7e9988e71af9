"""``callrec contracts ...``: the operator enrolls contracts, lines and connections (R5, R1.5).

Each command runs in one transaction and prints one JSON object on stdout (exit 0). Invalid input or
a refusal prints ``callrec: error: <reason id>: <message>`` on stderr and exits 2; a refused CSV
import prints a summary line, then one line per problem (``line N: <reason id>: <message>``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.csv_import import import_lines_csv
from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.db import database_url, make_engine, make_sessionmaker
from callrec_ari.db.engine import unavailable
from callrec_ari.db.migrate import upgrade
from callrec_ari.rules.charges import JST
from callrec_ari.rules.enrollment import LineRequest, split_services

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_FAILURE = 1  # the command was right, the world was not (the database unreachable)

Action = Callable[[Session, argparse.Namespace], dict[str, Any]]


class CommandError(Exception):
    """Refused input that is reported as several lines (the CSV report)."""

    def __init__(self, summary: str, details: list[str]) -> None:
        super().__init__(summary)
        self.details = details


class FileUnreadable(service.InvalidInput):
    error_id = "file-unreadable"


def fail(message: str, details: list[str] | None = None, code: int = EXIT_USAGE) -> int:
    print(f"callrec: error: {message}", file=sys.stderr)
    for line in details or []:
        print(f"  {line}", file=sys.stderr)
    return code


def run_in_session(args: argparse.Namespace, action: Action) -> int:
    """Open the database (migrated unless --no-migrate), run ``action`` in one transaction."""
    url: str = args.database_url or database_url()
    try:
        if not args.no_migrate:
            upgrade(url)
        engine = make_engine(url)
    except SQLAlchemyError as exc:
        return fail(unavailable(url, exc), code=EXIT_FAILURE)
    try:
        with make_sessionmaker(engine).begin() as session:
            result = action(session, args)
    except CommandError as exc:
        return fail(str(exc), exc.details)
    except (service.ContractsError, LookupError, ValueError) as exc:
        return fail(f"{getattr(exc, 'error_id', 'invalid-input')}: {exc}")
    except SQLAlchemyError as exc:
        return fail(f"database-error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_OK


def line_json(line: Line) -> dict[str, Any]:
    return {"id": line.id, "contract_id": line.contract_id, "number": line.number, "endpoint": line.endpoint,
            "holder_name": line.holder_name, "services": list(line.services),
            "recording_started": line.recording_started, "consent": line.consent, "notice": line.notice,
            "withhold_caller_id": line.withhold_caller_id,
            "suspended": line.suspended, "suspended_reason": line.suspended_reason,
            "enrolled_at": line.enrolled_at.isoformat(),
            "removed_at": None if line.removed_at is None else line.removed_at.isoformat()}


def contract_json(contract: Contract) -> dict[str, Any]:
    return {"id": contract.id, "holder_name": contract.holder_name, "reseller": contract.reseller,
            "omit_notice": contract.omit_notice, "suspended": contract.suspended,
            "suspended_reason": contract.suspended_reason,
            "ends_at": contract.ends_at.isoformat() if contract.ends_at else None}


def connection_json(conn: Connection) -> dict[str, Any]:
    return {"id": conn.id, "contract_id": conn.contract_id, "type": conn.type, "endpoint": conn.endpoint,
            "enrolled_at": conn.enrolled_at.isoformat(),
            "removed_at": None if conn.removed_at is None else conn.removed_at.isoformat()}


def _create(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    return contract_json(service.create_contract(s, a.holder, reseller=a.reseller, omit_notice=a.omit_notice))


def _import_csv(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    path = Path(a.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileUnreadable(f"cannot read {path}: {exc}") from exc
    result = import_lines_csv(s, a.contract_id, text)
    if not result.ok:
        rows = len({e.line for e in result.errors})
        raise CommandError(f"import-refused: {path}: {len(result.errors)} problem(s) on {rows} line(s); "
                           "nothing was imported", [str(e) for e in result.errors])
    return {"contract_id": a.contract_id, "imported": result.imported}


def _enroll_line(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    request = LineRequest(number=a.number, endpoint=a.endpoint, holder_name=a.holder,
                          services=split_services(a.services))
    line = service.enroll_line(s, a.contract_id, request, notice=a.notice,
                               recording_started=a.recording_started, consent=a.consent)
    return line_json(line)


def _add_service(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    return line_json(service.add_service(s, a.number, a.service))


def _edit_line(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    if a.withhold_caller_id is None:
        raise service.InvalidInput("nothing to change: give --withhold-caller-id or --no-withhold-caller-id")
    return line_json(service.set_withhold_caller_id(s, a.number, a.withhold_caller_id))


def _remove_line(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    return line_json(service.remove_line(s, a.number))


def _enroll_connection(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    try:
        secret = Path(a.secret_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise FileUnreadable(f"cannot read the secret file {a.secret_file}: {exc}") from exc
    return connection_json(service.enroll_connection(s, a.contract_id, a.type, a.endpoint, secret))


def _remove_connection(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    return connection_json(service.remove_connection(s, a.connection_id))


def _suspend(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    target = service.suspend(s, contract_id=a.contract, number=a.line, reason=a.reason, lift=a.lift)
    return contract_json(target) if isinstance(target, Contract) else line_json(target)


def _end(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    return contract_json(service.end_contract(s, a.contract_id, end_of_day_jst(a.on)))


def end_of_day_jst(text: str) -> datetime:
    """``YYYY-MM-DD``: the contract ends when that day ends in Japan (the service's time zone)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise service.InvalidInput(f"--on {text!r}: expected a date, YYYY-MM-DD") from None
    return datetime.combine(day + timedelta(days=1), time(0), JST).astimezone(UTC)


def _list(s: Session, a: argparse.Namespace) -> dict[str, Any]:
    if a.contract is not None:
        contract = service.get_contract(s, a.contract)
        lines = [line_json(x) for x in contract.lines if x.removed_at is None]
        return {**contract_json(contract), "lines": lines,
                "connections": [connection_json(c) for c in contract.connections if c.removed_at is None]}
    counted = s.execute(select(Line.contract_id, func.count()).where(Line.removed_at.is_(None))
                        .group_by(Line.contract_id)).all()
    counts = {contract_id: count for contract_id, count in counted}
    return {"contracts": [{**contract_json(c), "enrolled_lines": counts.get(c.id, 0)}
                          for c in s.scalars(select(Contract).order_by(Contract.id))]}


def add_db_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", metavar="URL", default=None,
                        help="database (default: $CALLREC_DATABASE_URL or sqlite:///callrec.db)")
    parser.add_argument("--no-migrate", action="store_true", help="do not upgrade the database first")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``contracts`` and its subcommands."""
    top = sub.add_parser("contracts", help="enroll contracts, lines and connections", description=__doc__)
    cmds = top.add_subparsers(dest="contracts_command", required=True, metavar="CONTRACTS_COMMAND")

    def add(name: str, action: Action, help_: str) -> argparse.ArgumentParser:
        parser = cmds.add_parser(name, help=help_, description=help_)
        add_db_options(parser)
        parser.set_defaults(handler=lambda args: run_in_session(args, action))
        return parser

    p = add("create", _create, "create a contract (resellers are refused, R5.3)")
    p.add_argument("--holder", required=True, help="the holder name shared by every line (R5.1)")
    p.add_argument("--reseller", action="store_true", help="the applicant resells mobile service (refused)")
    p.add_argument("--omit-notice", action="store_true", help="the contract omits its notice (R2.3)")
    p = add("import-csv", _import_csv, "enroll lines from CSV, all or nothing")
    p.add_argument("contract_id", type=int, metavar="CONTRACT_ID")
    p.add_argument("file", metavar="FILE", help="columns: number,endpoint,holder_name[,services,notice,"
                   "recording_started,consent]")
    p = add("enroll-line", _enroll_line, "enroll one subscriber line")
    p.add_argument("contract_id", type=int, metavar="CONTRACT_ID")
    p.add_argument("--number", required=True)
    p.add_argument("--endpoint", required=True, help="its SIP endpoint")
    p.add_argument("--holder", required=True, help="its holder name (must be the contract's)")
    p.add_argument("--services", default="", help="services the line has, ';'-separated")
    p.add_argument("--notice", default=None, help="notice sound (default: the standard notice)")
    p.add_argument("--recording-started", action="store_true", help="recording started (R4.1)")
    p.add_argument("--consent", action="store_true", help="the user's consent is on file (R5.4)")
    p = add("add-service", _add_service, "record a service added to an enrolled line (R5.2)")
    p.add_argument("number", metavar="NUMBER")
    p.add_argument("service", metavar="SERVICE")
    p = add("edit-line", _edit_line, "change an enrolled line's settings")
    p.add_argument("number", metavar="NUMBER")
    p.add_argument("--withhold-caller-id", action=argparse.BooleanOptionalAction, default=None,
                   help="withhold the line's number by default (186 shows it for one call); "
                   "--no-withhold-caller-id: show it (184 withholds it for one call)")
    p = add("remove-line", _remove_line, "remove an enrolled line (charged to the end of the month)")
    p.add_argument("number", metavar="NUMBER")
    p = add("enroll-connection", _enroll_connection, "enroll a connection to the customer equipment")
    p.add_argument("contract_id", type=int, metavar="CONTRACT_ID")
    p.add_argument("--type", required=True, choices=("file", "stream"), help="delivery type (R1.5)")
    p.add_argument("--endpoint", required=True, help="the customer equipment's URL")
    p.add_argument("--secret-file", required=True, metavar="PATH", help="file holding the shared secret")
    p = add("remove-connection", _remove_connection, "remove a connection")
    p.add_argument("connection_id", type=int, metavar="CONNECTION_ID")
    for name, lift in (("suspend", False), ("resume", True)):
        p = add(name, _suspend, f"{name} a contract or a line (R5.5)")
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--contract", type=int, metavar="ID")
        target.add_argument("--line", metavar="NUMBER")
        p.add_argument("--reason", required=not lift, default=None, help="why (kept with the suspension)")
        p.set_defaults(lift=lift)
    p = add("end", _end, "end a contract on a date: its lines stop recording when that day ends (Japan "
            "time); the daily `callrec privacy purge` then closes it (docs/privacy.md)")
    p.add_argument("contract_id", type=int, metavar="CONTRACT_ID")
    p.add_argument("--on", required=True, metavar="YYYY-MM-DD", help="the contract's last day")
    p = add("list", _list, "list contracts, or one contract's enrolled lines and connections")
    p.add_argument("--contract", type=int, metavar="ID", default=None)
