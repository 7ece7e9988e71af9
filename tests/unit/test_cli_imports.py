"""A command loads only its own code: the delivery worker's memory is mostly what it imported, and a
worker that carried the portal, the ARI app and SSH used twice the memory (issue 15: at most 80 MB
while uploading 1 GB)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from callrec_ari.cli import build_parser
parser = build_parser({command!r})
args = parser.parse_args({argv!r})
print(args.command, *sorted(m for m in sys.modules if m.split('.')[0] in ('asyncssh', 'jinja2', 'alembic')
                            or m.startswith(('callrec_ari.portal', 'callrec_ari.app', 'callrec_ari.calls'))))
"""


def loaded(command: str | None, argv: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(command=command, argv=argv)], check=True,
                         capture_output=True, text=True).stdout.split()
    return out


def test_the_worker_loads_neither_the_portal_nor_the_app_nor_ssh_nor_alembic() -> None:
    assert loaded("deliver", ["deliver", "--no-migrate"]) == ["deliver"]


def test_the_whole_parser_still_knows_every_command() -> None:
    import argparse

    from callrec_ari.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)
    assert parser.parse_args(["deliver", "--once"]).command == "deliver"
