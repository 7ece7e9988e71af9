"""What the portal says, as Babel extracts it: every msgid of the Python code and the templates
(``_``, ``gettext``, ``ngettext``, ``N_``, ``{% trans %}``), and the text a template shows outside them."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from jinja2 import Environment
from jinja2.ext import babel_extract

import callrec_ari.portal

PORTAL = Path(callrec_ari.portal.__file__).parent
TEMPLATES = PORTAL / "templates"
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
# Attributes a person reads (or a screen reader says).
VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "summary"}


def msgids() -> dict[str, str]:
    """msgid (the singular of a plural pair) -> the first file that uses it."""
    found: dict[str, str] = {}
    for path in sorted(PORTAL.rglob("*.py")):
        for message in extract_from_file("python", str(path), keywords=KEYWORDS):
            found.setdefault(_singular(message[1]), str(path.relative_to(PORTAL)))
    for path in sorted(TEMPLATES.glob("*.html")):
        for message in extract_from_file(babel_extract, str(path), keywords=KEYWORDS,
                                         options={"extensions": "jinja2.ext.i18n"}):
            found.setdefault(_singular(message[1]), str(path.relative_to(PORTAL)))
    return found


def _singular(msgid: str | tuple[str, ...]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):  # code: identifiers (error ids), not words
            self._skip += 1
        for name, value in attrs:
            if value and name in VISIBLE_ATTRIBUTES:
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


WORD = re.compile(r"[^\W\d_]{2,}")


def untranslated_text(source: str) -> list[str]:
    """Words a template shows that no catalog holds: its literal text outside ``{% trans %}`` blocks
    and ``{{ }}`` expressions, and the visible attributes, with markup and the brand removed."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    pieces: list[str] = []
    in_trans = False
    previous: list[str] = []
    for _, kind, value in env.lex(source):
        if kind == "whitespace":
            continue
        if kind == "name" and previous[-1:] == ["block_begin"]:
            if value == "trans":
                in_trans = True
            elif value == "endtrans":
                in_trans = False
        if kind == "data" and not in_trans:
            pieces.append(value)
        elif kind == "variable_begin" or kind == "block_begin":
            pieces.append(" X ")  # an expression: whatever it prints is data, not template text
        previous.append(kind)
    parser = _Text()
    parser.feed("".join(pieces))
    words = []
    for text in parser.found:
        text = text.replace("callrec", "").replace(" X ", " ")
        words += [w for w in WORD.findall(text) if w != "X"]
    return words


__all__ = ["KEYWORDS", "PORTAL", "TEMPLATES", "msgids", "untranslated_text"]
