"""Every word the portal shows comes from the catalogs, and the Japanese catalog translates each one
(issue 19): a template with literal text outside ``{% trans %}``/``_()``, a message without its
Japanese, a translation that drops a placeholder, or an error id with no words fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callrec_ari.portal import i18n
from callrec_ari.portal.error_text import ERROR_TEXT
from tests.support.catalogs import PORTAL, TEMPLATES, msgids, untranslated_text

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
TAG = re.compile(r"<[^>]+>")


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_show_no_text_outside_the_catalogs(template: str) -> None:
    assert untranslated_text((TEMPLATES / template).read_text()) == []


def test_the_check_finds_literal_text() -> None:
    """The check above is not blind: literal words, in text or in a visible attribute, are found;
    the same words through the catalog are not."""
    assert untranslated_text("<p>Recorded calls</p>") == ["Recorded", "calls"]
    assert untranslated_text('<input placeholder="search lines">') == ["search", "lines"]
    assert untranslated_text('<p>{{ _("Recorded calls") }} {% trans %}of your lines{% endtrans %}</p>') == []
    assert untranslated_text("<p><code>import-refused</code> {{ n }} 42</p>") == []


def test_every_message_has_its_japanese() -> None:
    ja = i18n.catalog("ja")
    found = msgids()
    assert len(found) > 300  # the extraction itself works
    missing = {msgid: where for msgid, where in found.items() if msgid not in ja}
    assert missing == {}


def test_translations_keep_placeholders_and_markup() -> None:
    ja = i18n.catalog("ja")
    for msgid, where in msgids().items():
        text = ja.get(msgid, msgid)
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(msgid)), (where, msgid, text)
        assert sorted(TAG.findall(text)) == sorted(TAG.findall(msgid)), (where, msgid, text)


def _raised_error_ids() -> set[str]:
    ids: set[str] = set()
    raisers = "BadInput|Forbidden|PortalError|NoticeError|NoticeAudioError"
    pattern = re.compile(rf'(?:{raisers})\(\s*"([a-z0-9-]+)"')
    for path in [*PORTAL.rglob("*.py"), *(PORTAL.parent / "notices").rglob("*.py")]:
        ids |= set(pattern.findall(Path(path).read_text()))
    from callrec_ari.rules.enrollment import EnrollmentReason  # the enrollment refusals' ids

    ids |= {str(r) for r in EnrollmentReason}
    return ids


def test_every_refusal_a_customer_can_meet_has_words() -> None:
    without = {i for i in _raised_error_ids() if i not in ERROR_TEXT and not i.endswith("-not-found")}
    assert without == set()


def test_both_languages_speak_and_format() -> None:
    with i18n.speaking("en"):
        assert i18n.gettext("connection %(id)s saved") % {"id": 7} == "connection 7 saved"
        assert i18n.ngettext("%(num)s line", "%(num)s lines", 1) % {"num": 1} == "1 line"
        assert i18n.format_yen(1234567) == "¥1,234,567"
    with i18n.speaking("ja"):
        text = i18n.gettext("connection %(id)s saved") % {"id": 7}
        assert "7" in text and "%(" not in text and text != "connection 7 saved"
        assert i18n.format_yen(1234567) == "1,234,567円"
        # 23:30 UTC on Nov 30 is 08:30 on Dec 1 in Japan.
        assert i18n.format_datetime("2026-11-30T23:30:00Z") == "2026/12/01 08:30"
        assert i18n.format_date("2026-11-30T23:30:00+00:00") == "2026年12月1日"
    assert i18n.current() == i18n.DEFAULT_LOCALE == "ja"
