"""The dashboards (issue 19): a customer sees its own calls and deliveries only, counted per Japan-time
day over the last 30 days; the operator sees the whole platform and the service's health.

The clock is fixed at 2026-12-10 03:00 UTC (12:00 JST): the window is the JST days 11/11 .. 12/10,
[2026-11-10 15:00 UTC, 2026-12-10 15:00 UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from jinja2.ext import babel_extract
from sqlalchemy import select
from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.contracts.models import Line
from callrec_ari.db.models import Delivery, DeliveryAttempt
from callrec_ari.portal import i18n, reasons
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, OPERATOR
from callrec_ari.portal.dashboard import pages, queries
from callrec_ari.portal.service_health import ALERTS_KEY, alerts_from
from callrec_ari.portal.tenancy import Scope
from tests.portal.conftest import A_LOGIN, B_LOGIN, OP_LOGIN, World, api_login

NOW = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
START = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # 11/11 00:00 JST
END = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)  # 12/11 00:00 JST
A_ENDPOINT = "http://127.0.0.1:9/alpha-inbox"
B_ENDPOINT = "127.0.0.1:9/recordings"  # the fixture's connection of B
ROOT = Path(__file__).resolve().parents[2] / "callrec_ari" / "portal"


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def call(s: Session, line: Line, n: int, ended: datetime, recorded: bool, reason: str) -> None:
    for i in range(n):
        s.add(CallRecord(call_id=f"{line.number}-{ended.isoformat()}-{reason}-{i}", line_id=line.id,
                         line_endpoint=line.endpoint, direction="outgoing", caller=line.number,
                         callee="0312345678", ended_at=ended, recorded=recorded, reason=reason))


def delivery(s: Session, key: str, contract: int, connection: int, state: str, created: datetime,
             attempts: tuple[tuple[datetime, str], ...] = ()) -> None:
    row = Delivery(call_id=key, idempotency_key=key, node="n1", connection=f"contract {contract}",
                   contract=str(contract), connection_id=connection, state=state, zip_path=f"/x/{key}.zip",
                   zip_size=1, zip_sha256="0" * 64, wav_paths=[],
                   call_ended_at=created - timedelta(minutes=1), created_at=created,
                   expires_at=created + timedelta(days=7), next_attempt_at=created,
                   attempt_count=len(attempts))
    row.attempts = [
        DeliveryAttempt(number=i, worker="w", started_at=at, finished_at=at + timedelta(seconds=2),
                        outcome=outcome, status_code=200 if outcome == "delivered" else 503)
        for i, (at, outcome) in enumerate(attempts, start=1)
    ]
    s.add(row)


@pytest.fixture
def data(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(pages, "utcnow", lambda: NOW)
    with world.session() as s, s.begin():
        a_line = s.scalars(select(Line).where(Line.contract_id == world.a_id).order_by(Line.id)).first()
        b_line = s.scalars(select(Line).where(Line.contract_id == world.b_id).order_by(Line.id)).first()
        assert a_line is not None and b_line is not None
        a_conn = service.enroll_connection(s, world.a_id, "file", A_ENDPOINT, "a-secret-0123456789abcdef")
        # A: 5 calls in the window (3 recorded), 2 outside it
        call(s, a_line, 2, utc(12, 8, 23, 30), True, "recorded")  # 12/09 08:30 JST
        call(s, a_line, 1, START, True, "recorded")  # the first instant of the window
        call(s, a_line, 1, START - timedelta(seconds=1), True, "recorded")  # 11/10 23:59:59 JST: out
        call(s, a_line, 1, END, True, "recorded")  # 12/11 00:00 JST: out
        call(s, a_line, 1, utc(12, 10, 2), False, "excluded-1xx")  # today
        call(s, a_line, 1, utc(12, 1, 5), False, "roaming")
        # B: 7 calls (4 recorded, 3 without consent)
        call(s, b_line, 4, utc(12, 5, 1), True, "recorded")
        call(s, b_line, 3, utc(12, 6, 1), False, "no-consent")
        # A's deliveries: one delivered, one waiting (deadline 12/16 10:00 JST); its connection is fine
        delivery(s, "a-1", world.a_id, a_conn.id, "delivered", utc(12, 5), ((utc(12, 5, 0, 1), "delivered"),))
        delivery(s, "a-2", world.a_id, a_conn.id, "pending", utc(12, 9, 1))
        # B's: delivered on 12/01, then every attempt fails from 12/02 10:00 UTC (19:00 JST)
        c = world.b_connection
        delivery(s, "b-1", world.b_id, c, "delivered", utc(12, 1), ((utc(12, 1, 2), "delivered"),))
        delivery(s, "b-4", world.b_id, c, "rejected", utc(12, 2, 9), ((utc(12, 2, 10), "permanent"),))
        delivery(s, "b-2", world.b_id, c, "pending", utc(12, 4, 3),  # deadline 12/11 12:00 JST
                 ((utc(12, 4, 3, 5), "transient"), (utc(12, 4, 4), "transient")))
        delivery(s, "b-3", world.b_id, c, "pending", utc(12, 6), ((utc(12, 6, 1), "transient"),))
        delivery(s, "b-5", world.b_id, c, "purged", utc(11, 20))
        delivery(s, "b-old", world.b_id, c, "delivered", utc(11, 1), ((utc(11, 1, 1), "delivered"),))
    return world


def cards(page: str, *names: str) -> tuple[str, ...]:
    return tuple(card(page, name) for name in names)


def card(page: str, name: str) -> str:
    found = re.search(rf'<dd id="card-{name}">(.*?)</dd>', page, re.S)
    assert found, name
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def day_row(page: str, day: str) -> list[str] | None:
    """A row of the calls-per-day table: its counts by series, then the day's total."""
    table = page.split('id="calls-per-day"', 1)[1].split("</table>", 1)[0]
    found = re.search(rf'<tr[^>]*><th scope="row">{re.escape(day)}</th>(.*?)</tr>', table, re.S)
    return None if found is None else re.findall(r'<td class="num">([^<]*)</td>', found.group(1))


async def page_of(make_client: Any, login: str | None, path: str, lang: str | None = "en") -> tuple[int, str]:
    client = await make_client()
    client.session.cookie_jar.clear()
    if lang:
        client.session.cookie_jar.update_cookies({i18n.LANG_COOKIE: lang})
    if login:
        await api_login(client, login)
    resp = await client.get(path, allow_redirects=False)
    return resp.status, await resp.text()


def test_calls_are_counted_on_their_japan_day_within_the_window(data: World) -> None:
    a = Scope(0, A_LOGIN, CUSTOMER_ADMIN, data.a_id)
    with data.session() as s:
        fig = queries.figures(s, a, data.a_id, NOW)
    assert fig.window.days[0].isoformat() == "2026-11-11" and fig.window.days[-1].isoformat() == "2026-12-10"
    assert (fig.window.start, fig.window.end) == (START, END)
    assert fig.calls == {(28, True, "recorded"): 2, (0, True, "recorded"): 1,
                         (29, False, "excluded-1xx"): 1, (20, False, "roaming"): 1}
    assert fig.states == {"delivered": 1, "pending": 1, "rejected": 0, "purged": 0}
    assert fig.pending == 1 and fig.failing == []
    assert fig.oldest_pending is not None and fig.oldest_pending["expires_at"] == utc(12, 16, 1)


def test_a_failing_connection_is_found_with_its_first_failure_and_waiting_copies(data: World) -> None:
    b = Scope(0, B_LOGIN, CUSTOMER_ADMIN, data.b_id)
    with data.session() as s:
        fig = queries.figures(s, b, data.b_id, NOW)
    assert sum(fig.calls.values()) == 7
    assert fig.states == {"delivered": 1, "pending": 2, "rejected": 1, "purged": 1}  # b-old: before
    [failing] = fig.failing
    assert (failing["connection_id"], failing["since"], failing["failed_attempts"], failing["pending"]) == (
        data.b_connection, utc(12, 2, 10), 4, 2)
    assert fig.oldest_pending is not None and fig.oldest_pending["expires_at"] == utc(12, 11, 3)


async def test_customer_dashboard_shows_its_own_figures_only(data: World, make_client: Any) -> None:
    status, a_page = await page_of(make_client, A_LOGIN, "/dashboard")
    assert status == 200, a_page
    assert cards(a_page, "calls", "recorded", "unrecorded") == ("5", "3 (60%)", "2")
    assert card(a_page, "pending") == "1" and card(a_page, "deadline") == "2026/12/16 10:00 JST"
    assert day_row(a_page, "2026-12-09") == ["2", "0", "0", "2"]  # 23:30 UTC is the next JST day
    assert day_row(a_page, "2026-12-08") == ["0", "0", "0", "0"]
    assert day_row(a_page, "2026-11-11") == ["1", "0", "0", "1"]  # the window's first instant
    assert day_row(a_page, "2026-11-10") is None and day_row(a_page, "2026-12-11") is None
    assert day_row(a_page, "Total") == ["3", "1", "1", "5"]  # Recorded, Excluded number, Roaming
    assert 'role="img"' in a_page and 'aria-labelledby="calls-chart-title calls-chart-desc"' in a_page
    # nothing of B: its numbers, its reason, its failing connection, its oldest waiting copy
    assert 'id="failing"' not in a_page and B_ENDPOINT not in a_page
    for leak in ("Consent missing", "2026/12/11 12:00", "2026/12/02 19:00", "Beta Corp", ">7<", ">4<"):
        assert leak not in a_page, leak
    assert "no-consent" not in a_page and "excluded-1xx" not in a_page  # never reason ids

    status, b_page = await page_of(make_client, B_LOGIN, "/dashboard")
    assert status == 200, b_page
    assert cards(b_page, "calls", "recorded", "unrecorded") == ("7", "4 (57%)", "3")
    assert card(b_page, "pending") == "2" and card(b_page, "deadline") == "2026/12/11 12:00 JST"
    warning = b_page.split('id="failing"', 1)[1].split("</section>", 1)[0]
    assert B_ENDPOINT in warning and "since 2026/12/02 19:00 JST: 4 failed attempts" in warning
    assert "2 recordings are waiting" in warning
    assert A_ENDPOINT not in b_page and "2026/12/16 10:00" not in b_page and "Roaming" not in b_page


async def test_operator_sees_the_whole_platform_and_the_service_health(data: World, make_client: Any) -> None:
    client = await make_client()
    failing = {"checks": {"spool": {"ok": False, "detail": "<disk>"}}}
    client.server.app[ALERTS_KEY][:] = alerts_from(failing, 503)
    await api_login(client, OP_LOGIN)
    resp = await client.get("/operator/dashboard")
    page = await resp.text()
    assert resp.status == 200, page
    assert cards(page, "calls", "recorded", "unrecorded") == ("12", "7 (58%)", "5")
    assert card(page, "pending") == "3" and card(page, "failing") == "1"
    assert card(page, "deadline") == "2026/12/11 12:00 JST"  # B's, the platform's oldest
    health = page.split('id="health"', 1)[1].split("</section>", 1)[0]
    assert "the recording spool is nearly full or unwritable" in health and "(&lt;disk&gt;)" in health
    attention = page.split('id="contracts-attention"', 1)[1].split("</table>", 1)[0]
    assert attention.index("Beta Corp") < attention.index("Alpha Corp")  # the failing one first
    assert B_ENDPOINT in page and "HTTP 503" in page
    states = page.split('id="delivery-states"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<td class="num">(\d+)</td>', states) == ["2", "3", "1", "1", "7"]


async def test_operator_health_when_all_is_well(data: World, make_client: Any) -> None:
    status, page = await page_of(make_client, OP_LOGIN, "/operator/dashboard")
    assert status == 200
    assert "not monitored" in page.split('id="health"', 1)[1].split("</section>", 1)[0]


@pytest.mark.parametrize("login", [A_LOGIN, B_LOGIN])
async def test_customers_are_refused_the_operator_dashboard(
    data: World, make_client: Any, login: str
) -> None:
    status, page = await page_of(make_client, login, "/operator/dashboard")
    assert status == 403
    assert "Alpha Corp" not in page and "Beta Corp" not in page and "12/11" not in page


async def test_operators_have_their_own_dashboard_and_strangers_log_in(data: World, make_client: Any) -> None:
    assert (await page_of(make_client, OP_LOGIN, "/dashboard"))[0] == 403
    status, _page = await page_of(make_client, None, "/dashboard")
    assert status == 303


async def test_japanese_by_default_english_with_the_cookie(data: World, make_client: Any) -> None:
    status, ja = await page_of(make_client, A_LOGIN, "/dashboard", lang=None)
    assert status == 200
    assert "<h1>ダッシュボード</h1>" in ja and "日別通話件数" in ja and "録音対象外の番号" in ja
    assert day_row(ja, "2026年12月9日") == ["2", "0", "0", "2"]
    assert card(ja, "deadline") == "2026/12/16 10:00"
    assert ">12/10<" in ja and "<title>12/09 録音済み: 2</title>" in ja  # the chart: days, segments
    assert "Dashboard" not in ja.split("<main", 1)[1]
    status, en = await page_of(make_client, A_LOGIN, "/dashboard", lang="en")
    assert "<h1>Dashboard</h1>" in en and "Excluded number" in en
    assert "ダッシュボード" not in en.split("<main", 1)[1]
    status, op = await page_of(make_client, OP_LOGIN, "/operator/dashboard", lang=None)
    assert "<h1>全体ダッシュボード</h1>" in op and "録音サービスの稼働状況" in op


async def test_an_empty_dashboard_says_so(world: World, make_client: Any) -> None:
    status, page = await page_of(make_client, A_LOGIN, "/dashboard")
    assert status == 200
    assert "No calls in the last 30 days." in page and "No recording is waiting to be delivered." in page
    assert card(page, "calls") == "0" and card(page, "recorded") == "0"


def test_every_dashboard_string_has_a_japanese_translation() -> None:
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    sources: list[tuple[Any, Path]] = [("python", p) for p in (ROOT / "dashboard").glob("*.py")]
    sources += [(babel_extract, ROOT / "templates" / n) for n in ("dashboard.html", "op_dashboard.html")]
    found: set[str] = set()
    for method, path in sources:
        for message in extract_from_file(method, str(path), keywords=keywords,
                                         options={"extensions": "jinja2.ext.i18n"}):
            msgid = message[1]
            found.add(msgid if isinstance(msgid, str) else msgid[0])
    found |= {*reasons.REASON_LABELS.values(), "Other"}
    ja = i18n.catalog("ja")
    missing = sorted(m for m in found if m not in ja)
    assert not missing
    for msgid in found:
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", ja[msgid])), msgid
    assert "Recorded" in ja and len(found) > 60


def test_operator_scope_is_required_for_the_platform_figures(data: World) -> None:
    from callrec_ari.portal.errors import Forbidden

    with data.session() as s, pytest.raises(Forbidden):
        queries.figures(s, Scope(0, A_LOGIN, CUSTOMER_ADMIN, data.a_id), None, NOW)
    with data.session() as s:
        fig = queries.figures(s, Scope(0, OP_LOGIN, OPERATOR, None), None, NOW)
    assert sum(fig.calls.values()) == 12 and len(fig.contracts) == 2
