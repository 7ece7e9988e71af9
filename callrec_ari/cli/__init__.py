"""The ``callrec`` console command. Each subcommand lives in its own module with a ``register``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from callrec_ari.db.engine import ENV_DATABASE_URL
from callrec_ari.observability.logs import setup_logging

_SERVICES = frozenset({"run", "deliver", "receiver", "portal"})

_DESCRIPTION = (
    "Call recording for enrolled lines on Asterisk 22: the recording app (run), the delivery worker "
    "(deliver), the Customer Control portal (portal), the reference customer receiver (receiver), "
    "and the operator's commands for contracts, users, rules, charges and the database."
)


def _version() -> str:
    try:
        return version("callrec")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


# Each command's module (callrec_ari/cli/<module>.py), in the order of the help. A command imports
# only its own module: `callrec deliver` does not load the portal, the ARI app or their libraries
# (the worker's memory is mostly the code it has loaded).
COMMANDS = {"run": "run_cmd", "deliver": "deliver_cmd", "receiver": "receiver_cmd", "rules": "rules_cmd",
            "contracts": "contracts_cmd", "billing": "billing_cmd", "portal": "portal_cmd", "db": "db_cmd",
            "users": "users_cmd", "privacy": "privacy_cmd", "cluster": "cluster_cmd"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``command`` (a known one) only that command's part."""
    parser = argparse.ArgumentParser(prog="callrec", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"callrec {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        if command in COMMANDS and name != command:
            continue
        importlib.import_module(f"callrec_ari.cli.{module}").register(sub)
    _for_people(parser)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named on the line (the global options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _for_people(parser: argparse.ArgumentParser) -> None:
    """Help is read in a terminal: the modules' docstrings serve as descriptions without their
    reStructuredText literals (``x`` reads as x)."""
    if parser.description:
        parser.description = re.sub(r"``([^`]+)``", r"\1", parser.description)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _for_people(child)


def _json_logs(args: argparse.Namespace) -> bool:
    """Every service honours ``log_format`` (the file's top level, or $CALLREC_LOG_FORMAT). A file
    that does not load logs as text here; the command itself then reports what is wrong with it."""
    if args.command not in _SERVICES:
        return False
    from callrec_ari.config import load_config
    from callrec_ari.settings import SettingsError

    try:
        return load_config(getattr(args, "config", None)).log_format == "json"
    except (SettingsError, OSError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    line = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(line))
    args = parser.parse_args(line)
    # Services log what they do; one-shot commands stay quiet but for warnings (stdout is their answer).
    quiet = logging.INFO if args.command in _SERVICES else logging.WARNING
    setup_logging(json_lines=_json_logs(args), level=logging.DEBUG if args.verbose else quiet)
    url = getattr(args, "database_url", None)
    if not url:
        code: int = args.handler(args)
        return code
    # --database-url on any command stands for $CALLREC_DATABASE_URL for every part it runs, for as long
    # as the command runs (main() is also called in-process, by tests).
    before = os.environ.get(ENV_DATABASE_URL)
    os.environ[ENV_DATABASE_URL] = url
    try:
        code = args.handler(args)
    finally:
        if before is None:
            os.environ.pop(ENV_DATABASE_URL, None)
        else:
            os.environ[ENV_DATABASE_URL] = before
    return code


if __name__ == "__main__":
    sys.exit(main())
