"""``callrec rules check NUMBER``: would a call to this number be recorded? (R3.4, R3.5)

The line is assumed started with consent on file and not suspended: the command answers the
question for the number and the access flags alone. It prints one JSON object on stdout and
returns 0, or prints ``callrec: error: <message>`` on stderr and returns 2 for invalid input.
"""

from __future__ import annotations

import argparse
import json
import sys

from callrec_ari.rules.numbers import InvalidAllowList, InvalidNumber
from callrec_ari.rules.recording import AccessContext, LineState, decide_recording

EXIT_OK = 0
EXIT_USAGE = 2  # the same code argparse uses for its own errors

_LINE_READY = LineState(recording_started=True, consent=True)


def check(args: argparse.Namespace) -> int:
    """Handler of ``rules check``."""
    dialled: str = args.number
    context = AccessContext(roaming=args.roaming, voip=args.voip, extension=args.extension)
    try:
        decision = decide_recording(
            direction="outgoing",
            dialled=dialled,
            context=context,
            line=_LINE_READY,
            allow_00=args.allow_00,
        )
    except (InvalidNumber, InvalidAllowList) as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = {
        "dialled": dialled,
        "number": decision.number,
        "recordable": decision.recordable,
        "reason": str(decision.reason),
        "withheld": decision.withheld,
        "prefixes": list(decision.prefixes),
    }
    print(json.dumps(result, ensure_ascii=True))
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rules`` and its ``check`` subcommand."""
    rules = sub.add_parser("rules", help="inspect the recording rules", description=__doc__)
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="RULES_COMMAND")
    parser = rules_sub.add_parser(
        "check",
        help="would an outgoing call to NUMBER be recorded (prints JSON)",
        description="Classify NUMBER as an outgoing call from a started line with consent on file.",
    )
    parser.add_argument(
        "number", metavar="NUMBER", help="the dialled number, e.g. 1840312345678 or +81312345678"
    )
    parser.add_argument("--roaming", action="store_true", help="the line is roaming abroad (R3.2)")
    parser.add_argument("--voip", action="store_true", help="the call goes through a VoIP app (R3.4)")
    parser.add_argument("--extension", action="store_true", help="an extension call (R3.4)")
    parser.add_argument(
        "--allow-00",
        dest="allow_00",
        metavar="PREFIX",
        nargs="+",
        action="extend",
        default=[],
        help="a 00 prefix that is recorded (repeatable; put NUMBER first or end the list with --)",
    )
    parser.set_defaults(handler=check)
