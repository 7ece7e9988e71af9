"""``callrec billing invoice --month YYYY-MM``: the month's invoice lines per contract (R6, R6.2).

Without ``--out`` the invoices of every contract charged that month go to stdout (CSV: one header,
then every contract's lines; JSON: a list). With ``--out DIR`` one file per contract is written,
``invoice-<contract id>-<YYYY-MM>.<csv|json>``, and the paths are printed. Invalid input prints
``callrec: error: <error id>: <message>`` on stderr and exits 2. Amounts are yen, tax excluded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from callrec_ari.billing.invoice import Invoice, UnknownContract, invoices_csv, invoices_json, month_invoices
from callrec_ari.cli.contracts_cmd import EXIT_FAILURE, EXIT_OK, add_db_options, fail
from callrec_ari.db import database_url, make_engine, make_sessionmaker
from callrec_ari.db.engine import unavailable
from callrec_ari.db.migrate import upgrade
from callrec_ari.rules.charges import InvalidMonth, Month


def render(invoices: list[Invoice], fmt: str) -> str:
    return invoices_csv(invoices) if fmt == "csv" else invoices_json(invoices)


def invoice(args: argparse.Namespace) -> int:
    """Handler of ``billing invoice``."""
    try:
        month = Month.parse(args.month)
    except InvalidMonth as exc:
        return fail(f"{exc.error_id}: {exc}")
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        return fail(f"out-invalid: {out_dir} is not a directory")
    url: str = args.database_url or database_url()
    try:
        if not args.no_migrate:
            upgrade(url)
        engine = make_engine(url)
        try:
            with make_sessionmaker(engine)() as session:
                invoices = month_invoices(session, month, args.contract or ())
        finally:
            engine.dispose()
    except UnknownContract as exc:
        return fail(f"{exc.error_id}: {exc}")
    except SQLAlchemyError as exc:
        return fail(unavailable(url, exc), code=EXIT_FAILURE)
    if out_dir is None:
        sys.stdout.write(render(invoices, args.format))
        return EXIT_OK
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for inv in invoices:
            path = out_dir / f"invoice-{inv.contract_id}-{month}.{args.format}"
            path.write_text(render([inv], args.format), encoding="utf-8")
            print(path)
    except OSError as exc:
        return fail(f"out-invalid: cannot write to {out_dir}: {exc.strerror}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``billing`` and its ``invoice`` subcommand."""
    top = sub.add_parser("billing", help="charges and invoice lines", description=__doc__)
    cmds = top.add_subparsers(dest="billing_command", required=True, metavar="BILLING_COMMAND")
    p = cmds.add_parser("invoice", help="write a month's invoice lines per contract", description=__doc__)
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="billing month (Japan time)")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (default csv)")
    p.add_argument("--out", metavar="DIR", default=None, help="write one file per contract into DIR")
    p.add_argument("--contract", type=int, metavar="ID", action="append", default=None,
                   help="only this contract (repeatable)")
    add_db_options(p)
    p.set_defaults(handler=invoice)
