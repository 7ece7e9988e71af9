"""Japanese first, English one click away and remembered per user (issue 19); plain words, no
requirement or reason ids, Japan time, on the customer's pages. Two customers throughout."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from callrec_ari.portal.auth.models import PortalUser
from callrec_ari.portal.i18n import LANG_COOKIE
from tests.portal.conftest import A_LOGIN, B_LOGIN, World, form_login

CUSTOMER_PAGES = ("/lines", "/notices", "/settings", "/deliveries", "/invoice", "/users", "/audit")
REQUIREMENT_ID = re.compile(r"\bR\d\.\d\b")


def html_lang(page: str) -> str:
    found = re.search(r'<html lang="(\w+)">', page)
    assert found, page[:200]
    return found.group(1)


def locale_of(world: World, login: str) -> str | None:
    with world.session() as s:
        return s.scalars(select(PortalUser.locale).where(PortalUser.login == login)).one()


async def test_japanese_by_default_on_every_page_and_the_login_page(world: World, make_client: Any) -> None:
    client = await make_client(lang=None)
    login_page = await (await client.get("/login")).text()
    assert html_lang(login_page) == "ja" and "ログイン" in login_page
    await form_login(client, A_LOGIN)
    for path in CUSTOMER_PAGES:
        resp = await client.get(path)
        page = await resp.text()
        assert resp.status == 200 and html_lang(page) == "ja", path
        assert "Log out" not in page and "Audit log" not in page, path  # the menu speaks Japanese


async def test_a_user_switches_to_english_and_it_is_remembered_for_that_user_only(
    world: World, make_client: Any
) -> None:
    a = await make_client(lang=None)
    csrf = await form_login(a, A_LOGIN)
    # Without the session's CSRF token the switch is refused and nothing is stored.
    refused = await a.post("/language", data={"lang": "en", "back": "/lines"}, allow_redirects=False)
    assert refused.status == 403 and locale_of(world, A_LOGIN) is None
    resp = await a.post("/language", data={"lang": "en", "back": "/lines", "csrf_token": csrf},
                        allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/lines"
    assert locale_of(world, A_LOGIN) == "en" and locale_of(world, B_LOGIN) is None
    assert html_lang(await (await a.get("/lines")).text()) == "en"
    # Remembered with the user: a new browser (no language cookie) logs in to English pages...
    fresh = await make_client(lang=None)
    await form_login(fresh, A_LOGIN)
    assert html_lang(await (await fresh.get("/settings")).text()) == "en"
    # ...while the other customer's administrator still gets Japanese.
    b = await make_client(lang=None)
    await form_login(b, B_LOGIN)
    assert html_lang(await (await b.get("/settings")).text()) == "ja"
    # And back to Japanese.
    await a.post("/language", data={"lang": "ja", "back": "/settings", "csrf_token": csrf})
    assert locale_of(world, A_LOGIN) == "ja" and html_lang(await (await a.get("/lines")).text()) == "ja"


async def test_the_login_page_switch_sets_a_cookie_and_refuses_other_languages(
    world: World, make_client: Any
) -> None:
    client = await make_client(lang=None)
    resp = await client.post("/language", data={"lang": "en", "back": "/login"}, allow_redirects=False)
    assert resp.status == 303 and resp.cookies[LANG_COOKIE].value == "en"
    assert html_lang(await (await client.get("/login")).text()) == "en"
    bad = await client.post("/language", data={"lang": "fr", "back": "/login"}, allow_redirects=False)
    assert bad.status == 400 and "language-unknown" in await bad.text()
    # Never back to another site.
    away = await client.post("/language", data={"lang": "ja", "back": "//evil.example/"},
                             allow_redirects=False)
    assert away.headers["Location"] == "/"


async def test_customer_pages_show_no_requirement_ids(world: World, make_client: Any) -> None:
    for lang in ("ja", "en"):
        client = await make_client(lang=lang)
        await form_login(client, A_LOGIN)
        for path in CUSTOMER_PAGES:
            page = await (await client.get(path)).text()
            assert not REQUIREMENT_ID.search(page), (lang, path, REQUIREMENT_ID.findall(page))


async def test_errors_speak_the_users_language(world: World, make_client: Any) -> None:
    ja, en = await make_client(lang=None), await make_client(lang="en")
    for client in (ja, en):
        await form_login(client, A_LOGIN)
    ja_page = await (await ja.get("/invoice?month=2026-13")).text()
    en_page = await (await en.get("/invoice?month=2026-13")).text()
    assert 'id="error-id">month-invalid<' in ja_page and 'id="error-id">month-invalid<' in en_page
    ja_message = re.search(r'id="error-message">(.*?)</span>', ja_page)
    en_message = re.search(r'id="error-message">(.*?)</span>', en_page)
    assert ja_message and en_message and ja_message.group(1) != en_message.group(1)
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", ja_message.group(1))
    # The API speaks English to programs unless they ask (or their user chose) otherwise.
    api = await make_client(lang=None)
    resp = await api.get("/api/v1/lines")
    assert resp.status == 401 and (await resp.json())["message"] == "log in first"
    resp = await api.get("/api/v1/lines", headers={"Accept-Language": "ja,en;q=0.5"})
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", (await resp.json())["message"])
