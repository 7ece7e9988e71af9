"""The call list, its CSV export and a call's timeline (issue 19), for two customers (A and B) who must
never see each other's calls or delivery copies; a call from A's line to B's line reaches both."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from callrec_ari.contracts.call_records import CallRecord, record_call
from callrec_ari.db.models import Delivery, DeliveryAttempt
from callrec_ari.model.call import CallTimes, FinishedCall
from callrec_ari.model.plan import CallPlan
from callrec_ari.portal.calls import pages as calls_pages
from callrec_ari.portal.calls import queries as calls_queries
from callrec_ari.portal.calls.pages import csv_cell
from callrec_ari.portal.calls.timeline import call_timeline
from callrec_ari.portal.i18n import CATALOG_DIR, catalog
from callrec_ari.rules.manifest import NoticeEntry
from tests.portal.conftest import A_LOGIN, A_NUMBERS, B_LOGIN, B_NUMBERS, OP_LOGIN, World, api_login

T = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 09:00 on 1 December, Japan time
A_CALLS = ["a-in-night", "a-to-b", "a-out-1", "a-formula"]  # newest first
B_CALLS = ["a-to-b", "b-only"]
PORTAL = Path(calls_pages.__file__).parents[1]


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def add_call(db: Any, call_id: str, line: str, direction: str, caller: str, callee: str, answered: datetime,
             length: float = 65, reason: str = "recorded", notices: tuple[NoticeEntry, ...] = ()) -> None:
    plan = CallPlan(call_id=call_id, direction=direction, caller_number=caller,  # type: ignore[arg-type]
                    callee_number=callee, line=line, callee_endpoint="PJSIP/x", record=reason == "recorded",
                    reason=reason)
    times = CallTimes(started=answered - s(5), answered=answered, notice_started=answered + s(1),
                      ended=answered + s(length))
    call = FinishedCall(plan=plan, times=times, end_cause=16, hangup_by="caller", notices=notices)
    record_call(db, call, "file" if call.recorded else None)


def add_copy(db: Any, call_id: str, contract: int, state: str, ended: datetime,
             attempts: tuple[tuple[float, str, int | None, str | None], ...] = ()) -> None:
    copy = Delivery(call_id=call_id, idempotency_key=f"{call_id}-{contract}", node="n1", connection="c",
                    contract=str(contract), state=state, zip_path="/spool/x.zip", zip_size=1,
                    zip_sha256="0" * 64, wav_paths=[], call_ended_at=ended, created_at=ended,
                    expires_at=ended + timedelta(days=7), next_attempt_at=ended, attempt_count=len(attempts),
                    delivered_at=ended + s(attempts[-1][0] + 1) if state == "delivered" else None)
    for number, (after, outcome, status, error) in enumerate(attempts, start=1):
        copy.attempts.append(DeliveryAttempt(number=number, worker="w1", started_at=ended + s(after),
                                             finished_at=ended + s(after + 1), outcome=outcome,
                                             status_code=status, error_id=error))
    db.add(copy)


@pytest.fixture
def calls(world: World) -> World:
    notice = NoticeEntry("both", "sound:callrec/notice-ja", T + s(1), T + s(6), "played")
    tone = NoticeEntry("both", "sound:beep", T + s(6), T + s(7), "played")
    with world.session() as db, db.begin():
        add_call(db, "a-out-1", A_NUMBERS[0], "outgoing", A_NUMBERS[0], "0355556666", T,
                 notices=(notice, tone))
        add_copy(db, "a-out-1", world.a_id, "delivered", T + s(65),
                 ((5, "transient", 503, "http-503"), (65, "delivered", 200, None)))
        night = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 00:30 on 2 December, Japan time
        add_call(db, "a-in-night", A_NUMBERS[1], "incoming", "", A_NUMBERS[1], night, 30, "line-not-started")
        formula = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
        add_call(db, "a-formula", A_NUMBERS[0], "incoming", "=1+2", A_NUMBERS[0], formula)
        add_copy(db, "a-formula", world.a_id, "pending", formula + s(65))
        add_call(db, "b-only", B_NUMBERS[0], "outgoing", B_NUMBERS[0], "0399990000", T + s(3600))
        add_copy(db, "b-only", world.b_id, "rejected", T + s(3665), ((1, "permanent", 404, "http-404"),))
        add_call(db, "a-to-b", A_NUMBERS[2], "outgoing", A_NUMBERS[2], B_NUMBERS[0], T + s(7200))
        add_copy(db, "a-to-b", world.a_id, "delivered", T + s(7265), ((1, "delivered", 200, None),))
        add_copy(db, "a-to-b", world.b_id, "rejected", T + s(7265), ((1, "permanent", 410, "http-410"),))
    return world


async def client_of(make_client: Any, login: str, lang: str | None = "en") -> Any:
    client = await make_client(lang=lang)
    await api_login(client, login)
    return client


async def listed(client: Any, query: str = "", path: str = "/calls") -> list[str]:
    resp = await client.get(path + query)
    text = await resp.text()
    assert resp.status == 200, text
    return re.findall(r'href="/calls/([^"]+)"', text)


async def csv_rows(client: Any, query: str = "") -> list[dict[str, str]]:
    resp = await client.get("/calls.csv" + query)
    raw = await resp.read()
    assert resp.status == 200, raw[:300]
    assert raw.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_record_call_keeps_the_notices(calls: World) -> None:
    with calls.session() as db:
        row = db.query(CallRecord).filter_by(call_id="a-out-1").one()
        assert [n["sound"] for n in row.notices or ()] == ["sound:callrec/notice-ja", "sound:beep"]
        assert row.notices and row.notices[0]["started_at"] == "2026-12-01T00:00:01.000000Z"


async def test_each_customer_lists_only_its_calls(calls: World, make_client: Any) -> None:
    a, b = await client_of(make_client, A_LOGIN), await client_of(make_client, B_LOGIN)
    assert await listed(a) == A_CALLS
    assert await listed(b) == B_CALLS
    page_a, page_b = await (await a.get("/calls")).text(), await (await b.get("/calls")).text()
    assert "0399990000" not in page_a and "b-only" not in page_a
    assert "0355556666" not in page_b and A_NUMBERS[0] not in page_b
    # The shared call, from B's side: B's line, incoming, A's line the other party.
    row = page_b.split('href="/calls/a-to-b"', 1)[1].split("</tr>", 1)[0]
    assert B_NUMBERS[0] in row and "Incoming" in row and A_NUMBERS[2] in row
    assert "Refused by your server" in row
    assert "Withheld (no caller ID)" in page_a and "2026/12/02 00:30 JST" in page_a
    assert "line-not-started" not in page_a and "Not recorded: recording had not been started" in page_a


@pytest.mark.parametrize(("query", "a_expected", "b_expected"), [
    (f"?line={A_NUMBERS[0]}", ["a-out-1", "a-formula"], None),
    (f"?line={A_NUMBERS[2]}", ["a-to-b"], None),
    (f"?line={B_NUMBERS[0]}", None, ["a-to-b", "b-only"]),
    ("?from=2026-12-01&to=2026-12-01", ["a-to-b", "a-out-1"], B_CALLS),
    ("?from=2026-12-02", ["a-in-night"], []),
    ("?to=2026-11-30", ["a-formula"], []),
    ("?direction=incoming", ["a-in-night", "a-formula"], ["a-to-b"]),
    ("?direction=outgoing", ["a-to-b", "a-out-1"], ["b-only"]),
    ("?recorded=no", ["a-in-night"], []),
    ("?recorded=yes", ["a-to-b", "a-out-1", "a-formula"], B_CALLS),
    ("?delivery=delivered", ["a-to-b", "a-out-1"], []),
    ("?delivery=rejected", [], B_CALLS),  # B's copy of a-to-b was refused, A's was delivered
    ("?delivery=pending", ["a-formula"], []),
    ("?delivery=purged&recorded=yes", [], []),
    (f"?direction=outgoing&line={A_NUMBERS[0]}&from=2026-12-01", ["a-out-1"], None),
])
async def test_filters(calls: World, make_client: Any, query: str, a_expected: list[str] | None,
                       b_expected: list[str] | None) -> None:
    for login, expected in ((A_LOGIN, a_expected), (B_LOGIN, b_expected)):
        if expected is not None:
            client = await client_of(make_client, login)
            assert await listed(client, query) == expected, (login, query)
            assert [r["call_id"] for r in await csv_rows(client, query)] == expected, (login, query)


@pytest.mark.parametrize(("query", "error_id", "words"), [
    ("?line=abc", "line-invalid", "digits only"),
    ("?line=09999999999", "line-unknown", "is not one of your lines"),
    (f"?line={B_NUMBERS[0]}", "line-unknown", "is not one of your lines"),  # B's line: as unknown
    ("?from=2026-13-01", "from-invalid", "YYYY-MM-DD"),
    ("?from=20261201", "from-invalid", "YYYY-MM-DD"),
    ("?to=0001-01-01", "to-invalid", "YYYY-MM-DD"),
    ("?from=2026-12-02&to=2026-12-01", "date-range-invalid", "after the To date"),
    ("?direction=sideways", "direction-invalid", "outgoing or incoming"),
    ("?recorded=maybe", "recorded-invalid", "yes or no"),
    ("?delivery=lost", "delivery-invalid", "pending, delivered, rejected, purged"),
    ("?line=" + "1" * 41, "line-invalid", "too long"),
    ("?page=0", "page-invalid", "positive integer"),
])
async def test_bad_filters_are_a_clear_400(calls: World, make_client: Any, query: str, error_id: str,
                                           words: str) -> None:
    client = await client_of(make_client, A_LOGIN)
    for path in ("/calls", "/calls.csv"):
        if path == "/calls.csv" and error_id == "page-invalid":
            continue
        resp = await client.get(path + query)
        text = await resp.text()
        assert resp.status == 400, (path, query, text[:300])
        assert f'id="error-id">{error_id}</code>' in text and words in text, text


async def test_csv_export(calls: World, make_client: Any) -> None:
    client = await client_of(make_client, A_LOGIN)
    resp = await client.get("/calls.csv")
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="calls-\d{8}\.csv"', resp.headers["Content-Disposition"])
    raw = (await resp.read()).decode("utf-8")
    assert raw.startswith("\ufeffcall_id,started_at,answered_at,ended_at,line,direction,caller,callee,"
                          "duration_seconds,recorded,reason,reason_text,delivery_state\r\n")
    rows = {r["call_id"]: r for r in await csv_rows(client)}
    assert list(rows) == A_CALLS
    night = rows["a-in-night"]
    assert (night["answered_at"], night["ended_at"]) == (
        "2026-12-02T00:30:00+09:00", "2026-12-02T00:30:30+09:00")
    assert (night["caller"], night["recorded"], night["reason"], night["delivery_state"]) == (
        "", "false", "line-not-started", "")
    assert night["reason_text"] == "Not recorded: recording had not been started for this line."
    assert rows["a-formula"]["caller"] == "'=1+2"  # no formula for the spreadsheet
    out = rows["a-out-1"]
    assert (out["line"], out["direction"], out["callee"], out["duration_seconds"], out["recorded"]) == (
        A_NUMBERS[0], "outgoing", "0355556666", "65", "true")
    assert rows["a-to-b"]["delivery_state"] == "delivered"
    for value in ("+81312345678", "-1", "@SUM(A1)", "=1", "\tx"):
        assert csv_cell(value) == "'" + value
    assert csv_cell("0355556666") == "0355556666" and csv_cell(True) == "true"
    b_rows = await csv_rows(await client_of(make_client, B_LOGIN))
    assert [(r["call_id"], r["line"], r["direction"], r["delivery_state"]) for r in b_rows] == [
        ("a-to-b", B_NUMBERS[0], "incoming", "rejected"), ("b-only", B_NUMBERS[0], "outgoing", "rejected")]
    ja = await csv_rows(await client_of(make_client, A_LOGIN, lang=None))
    assert ja[0]["reason_text"] == "録音なし: この回線の録音は開始されていませんでした。"


async def test_paging_and_csv_batches(calls: World, make_client: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with calls.session() as db, db.begin():
        for i in range(55):  # many at the very same time: the export's batches must not repeat or skip
            add_call(db, f"bulk-{i:02d}", A_NUMBERS[3], "outgoing", A_NUMBERS[3], "0311112222", T - s(86400))
    client = await client_of(make_client, A_LOGIN)
    query = f"?line={A_NUMBERS[3]}"
    first = await listed(client, query)
    second = await listed(client, query + "&page=2")
    assert len(first) == 50 and len(second) == 5 and not set(first) & set(second)
    text = await (await client.get("/calls" + query)).text()
    assert f'href="/calls?line={A_NUMBERS[3]}&amp;page=2"' in text and "page 1 of 2" in text
    assert await listed(client, query + "&page=99") == second  # past the end: the last page
    monkeypatch.setattr(calls_pages, "CSV_BATCH", 7)
    rows = [r["call_id"] for r in await csv_rows(client, query)]
    assert sorted(rows) == sorted(first + second) and len(rows) == 55
    monkeypatch.setattr(calls_queries, "CSV_LIMIT", 20)
    assert len(await csv_rows(client)) == 20


async def test_the_timeline_in_order(calls: World, make_client: Any) -> None:
    client = await client_of(make_client, A_LOGIN)
    text = await (await client.get("/calls/a-out-1")).text()
    timeline = text.split('<ol class="timeline"', 1)[1].split("</ol>", 1)[0]
    kinds = re.findall(r'class="event event-(\w+)"', timeline)
    assert kinds == ["answered", "notice", "notice", "talk", "ended", "attempt", "attempt", "delivery"]
    times = re.findall(r"<time datetime=\"[^\"]+\">([^<]+)</time>", timeline)
    assert times[:5] == ["2026/12/01 09:00:00 JST", "2026/12/01 09:00:01 JST", "2026/12/01 09:00:06 JST",
                         "2026/12/01 09:00:07 JST", "2026/12/01 09:01:05 JST"]
    assert "Recording notice" in timeline and "Recording tone" in timeline and "Both parties" in timeline
    assert "Your server answered HTTP 503." in timeline and "http-503" in timeline
    assert "Failed; it will be tried again." in timeline and "Delivery now: Delivered" in timeline


def test_the_timeline_of_a_call_without_a_notice_or_from_before_notices_were_kept() -> None:
    call = {"answered_at": T, "ended_at": T + s(9), "duration_seconds": 9, "notices": []}
    assert [(e["kind"], e["at"]) for e in call_timeline(call, [])] == [
        ("answered", T), ("talk", T), ("ended", T + s(9))]
    assert [e["kind"] for e in call_timeline({**call, "notices": None}, [])] == ["answered", "ended"]
    unanswered = call_timeline({**call, "answered_at": None}, [])
    assert [(e["kind"], e["answered"]) for e in unanswered] == [("ended", False)]


async def test_a_call_between_two_customers_shows_each_only_its_copy(calls: World, make_client: Any) -> None:
    a, b = await client_of(make_client, A_LOGIN), await client_of(make_client, B_LOGIN)
    page_a = await (await a.get("/calls/a-to-b")).text()
    page_b = await (await b.get("/calls/a-to-b")).text()
    assert "HTTP 200" in page_a and "Delivery now: Delivered" in page_a
    assert "HTTP 410" not in page_a and "http-410" not in page_a and "Refused by your server" not in page_a
    assert "HTTP 410" in page_b and "http-410" in page_b and "Delivery now: Refused by your server" in page_b
    assert "HTTP 200" not in page_b and "Delivery now: Delivered" not in page_b
    assert "<dd>Incoming</dd>" in page_b and f"<dd>{B_NUMBERS[0]}</dd>" in page_b


async def test_another_customers_call_is_not_found_like_a_missing_one(calls: World, make_client: Any) -> None:
    a, b = await client_of(make_client, A_LOGIN), await client_of(make_client, B_LOGIN)
    for client, theirs in ((a, "b-only"), (b, "a-out-1"), (b, "a-formula")):
        resp, missing = await client.get(f"/calls/{theirs}"), await client.get("/calls/no-such-call")
        text, text_missing = await resp.text(), await missing.text()
        assert resp.status == missing.status == 404
        assert text.replace(theirs, "X") == text_missing.replace("no-such-call", "X")
        assert "0399990000" not in text and "0355556666" not in text


async def test_japanese_by_default_and_english_on_request(calls: World, make_client: Any) -> None:
    ja = await client_of(make_client, A_LOGIN, lang=None)
    page = await (await ja.get("/calls")).text()
    for words in ("通話一覧", "非通知", "発信", "着信", "2026/12/02 00:30", "配信済み", "4件", "絞り込み",
                  "録音なし: この回線の録音は開始されていませんでした。", "CSVでダウンロード"):
        assert words in page, words
    main = page.split("<main", 1)[1].split("</main>", 1)[0]  # the page around it is another catalog's
    assert "Withheld" not in main and "JST" not in main and "Recorded" not in main
    call = await (await ja.get("/calls/a-out-1")).text()
    for words in ("通話の経過", "応答", "録音案内", "録音開始音", "双方", "通話開始", "通話終了",
                  "配信試行(1回目)", "現在の配信状況: 配信済み", "2026/12/01 09:00:07"):
        assert words in call, words
    error = await (await ja.get("/calls?direction=sideways")).text()
    assert "発着信には outgoing(発信)または incoming(着信)を指定してください。" in error
    en = await (await (await client_of(make_client, A_LOGIN)).get("/calls")).text()
    assert "Calls" in en and "Withheld (no caller ID)" in en and "4 calls" in en and "通話一覧" not in en


async def test_operator_list_and_customer_only_pages(calls: World, make_client: Any) -> None:
    op, a = await client_of(make_client, OP_LOGIN), await client_of(make_client, A_LOGIN)
    everything = ["a-in-night", "a-to-b", "b-only", "a-out-1", "a-formula"]
    assert await listed(op, path="/operator/calls") == everything
    assert (await a.get("/operator/calls")).status == 403
    assert (await op.get("/calls")).status == 403 and (await op.get("/calls.csv")).status == 403
    both = await (await op.get("/calls/a-to-b")).text()
    assert "HTTP 200" in both and "HTTP 410" in both


def first(message: object) -> str:
    """A message id or translation (a plural one's first form)."""
    return message if isinstance(message, str) else str(cast(tuple[str, ...], message)[0])


def test_every_string_of_the_call_pages_is_in_japanese() -> None:
    ids: set[str] = set()
    for name in ("calls.html", "call.html"):
        with (PORTAL / "templates" / name).open("rb") as fp:
            ids |= {first(found[2]) for found in babel_extract(fp, ("_", "gettext", "ngettext"), [], {})}
    for path in (PORTAL / "calls").glob("*.py"):
        with path.open("rb") as fp:
            ids |= {first(found[1]) for found in extract("python", fp, keywords={"_": None, "N_": None})}
    ja = catalog("ja")
    assert len(ids) > 80 and not [m for m in ids if m not in ja]
    with (CATALOG_DIR / "ja" / "calls.po").open("rb") as fp:
        entries = cast(Iterable[Message], read_po(fp, locale="ja"))
        for entry in entries:
            if entry.id:
                source, text = first(entry.id), first(entry.string)
                assert set(re.findall(r"%\(\w+\)s", source)) == set(re.findall(r"%\(\w+\)s", text)), source
