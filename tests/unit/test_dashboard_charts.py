"""The dashboards' SVG charts (portal/dashboard/charts.py, issue 19): round ticks, stacking, escaping,
accessibility hooks, and empty data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from callrec_ari.portal.dashboard import charts
from callrec_ari.portal.dashboard.charts import Series

SVG = "{http://www.w3.org/2000/svg}"
LABELS = ["12/01", "12/02", "12/03"]


def bars(series: list[Series], labels: list[str] | None = None) -> Markup:
    days = LABELS if labels is None else labels
    return charts.stacked_bars("calls", "Calls per day", "Calls, stacked", days, series,
                               x_label="Day", y_label="Calls", empty_text="No calls")


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (5, [0, 1, 2, 3, 4, 5]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 2, 4, 6, 8, 10]),
        (48, [0, 10, 20, 30, 40, 50]),
        (101, [0, 50, 100, 150]),
        (999, [0, 200, 400, 600, 800, 1000]),
        (12345, [0, 5000, 10000, 15000]),
    ],
)
def test_ticks_are_round_and_cover_the_top(top: int, ticks: list[int]) -> None:
    assert charts.nice_ticks(top) == ticks


@pytest.mark.parametrize("top", [1, 2, 9, 17, 33, 250, 4001, 73_000])
def test_ticks_always_reach_the_tallest_bar_with_a_1_2_5_step(top: int) -> None:
    ticks = charts.nice_ticks(top)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and ticks[-1] >= top and ticks[-2] < top
    assert re.fullmatch(r"[125]0*", str(step))
    assert 2 <= len(ticks) <= 11


def test_stacking_sums_each_column_and_refuses_mismatched_series() -> None:
    series = [Series("a", [1, 0, 2]), Series("b", [3, 4, 0])]
    assert charts.stack(series, 3) == [4, 4, 2]
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        charts.stack([Series("a", [1, 2])], 3)
    with pytest.raises(ValueError, match="negative"):
        charts.stack([Series("a", [1, -2, 0])], 3)


def test_segments_stack_up_to_each_column_total() -> None:
    svg = parse(bars([Series("Recorded", [2, 0, 5]), Series("Excluded", [1, 3, 0])]))
    segments = [r for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(segments) == 4  # the zero values draw nothing
    by_x: dict[str, float] = {}
    for rect in segments:
        by_x[rect.get("x", "")] = by_x.get(rect.get("x", ""), 0.0) + float(rect.get("height", "0"))
    heights = list(by_x.values())
    # ticks 0..5 over 200 px: 40 px a call
    assert heights == pytest.approx([120.0, 120.0, 200.0])
    titles = [r.findtext(f"{SVG}title") for r in segments]
    assert "12/01 Recorded: 2" in titles and "12/02 Excluded: 3" in titles


def test_accessible_name_and_legend_in_stacking_order() -> None:
    out = bars([Series("Recorded", [1, 1, 1]), Series("Roaming", [0, 1, 0])])
    assert isinstance(out, Markup)
    svg = parse(out)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "calls-title calls-desc"
    assert svg.findtext(f"{SVG}title") == "Calls per day"
    assert svg.find(f"{SVG}title").get("id") == "calls-title"  # type: ignore[union-attr]
    assert svg.findtext(f"{SVG}desc") == "Calls, stacked"
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts.index("Recorded") < texts.index("Roaming")
    assert "Day" in texts and "Calls" in texts
    # each series its own pattern, the legend swatch the same one as its bars
    fills = {r.get("fill") for r in svg.iter(f"{SVG}rect") if (r.get("fill") or "").startswith("url(")}
    assert fills == {"url(#calls-p0)", "url(#calls-p1)"}
    assert len(svg.findall(f"{SVG}defs/{SVG}pattern")) == 2


def test_every_text_is_escaped() -> None:
    nasty = '<script>alert("x")</script> & \'q\''
    out = charts.stacked_bars("c1", nasty, nasty, [nasty, "b"], [Series(nasty, [1, 2])],
                              x_label=nasty, y_label=nasty, empty_text=nasty)
    assert "<script>" not in out
    svg = parse(out)  # still well-formed
    assert svg.findtext(f"{SVG}title") == nasty
    assert nasty in [t.text for t in svg.iter(f"{SVG}text")]
    empty = charts.stacked_bars("c2", nasty, nasty, ["a"], [Series("s", [0])],
                                x_label="x", y_label="y", empty_text=nasty)
    assert "<script>" not in empty and parse(empty).findtext(f"{SVG}desc") == nasty
    listed = charts.bar_list("c3", nasty, nasty, [(nasty, 3)], empty_text=nasty)
    assert "<script>" not in listed and nasty in [t.text for t in parse(listed).iter(f"{SVG}text")]


def test_chart_ids_are_checked() -> None:
    with pytest.raises(ValueError):
        charts.stacked_bars('x" onload="alert(1)', "t", "d", ["a"], [Series("a", [1])],
                            x_label="x", y_label="y", empty_text="e")
    with pytest.raises(ValueError):
        charts.bar_list('x"y', "t", "d", [("a", 1)], empty_text="e")


@pytest.mark.parametrize(
    "series",
    [[Series("Recorded", [0, 0, 0])], [], [Series("Recorded", [0, 0, 0]), Series("Roaming", [0, 0, 0])]],
)
def test_no_calls_says_so_instead_of_dividing_by_zero(series: list[Series]) -> None:
    svg = parse(bars(series))
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["No calls"]
    assert svg.get("role") == "img" and svg.findtext(f"{SVG}title") == "Calls per day"
    assert parse(bars([], labels=[])).findtext(f"{SVG}text") == "No calls"


def test_bar_list_scales_to_the_largest_and_labels_every_bar() -> None:
    out = charts.bar_list("states", "Deliveries", "by state",
                          [("Delivered", 120), ("Waiting", 30), ("Refused", 0)], empty_text="none")
    svg = parse(out)
    widths = [float(r.get("width", "0")) for r in svg.iter(f"{SVG}rect") if r.get("height") == "18"]
    assert len(widths) == 2 and widths[0] == pytest.approx(4 * widths[1], rel=0.01)
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert ["Delivered", "120", "Waiting", "30", "Refused", "0"] == texts
    empty = parse(charts.bar_list("s2", "t", "d", [("Delivered", 0)], empty_text="No deliveries"))
    assert [t.text for t in empty.iter(f"{SVG}text")] == ["No deliveries"]
    assert parse(charts.bar_list("s3", "t", "d", [], empty_text="No deliveries")).findtext(f"{SVG}text")


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@pytest.mark.parametrize("colour", charts.PALETTE)
def test_palette_contrasts_with_the_white_page(colour: str) -> None:
    ratio = 1.05 / (_luminance(colour) + 0.05)
    assert ratio >= 3.0, f"{colour}: {ratio:.2f}:1"


def test_series_differ_by_pattern_not_only_colour() -> None:
    assert len(set(charts.PATTERNS)) == len(charts.PATTERNS) == len(charts.PALETTE)


def test_day_labels_thin_out_but_today_is_always_labelled() -> None:
    labels = [f"11/{d:02d}" for d in range(1, 31)]
    svg = parse(bars([Series("Recorded", [1] * 30)], labels=labels))
    shown = [t.text for t in svg.iter(f"{SVG}text") if t.text in labels]
    assert shown[-1] == "11/30" and 5 <= len(shown) < 30
    assert charts.label_every(30, 21.7, 30) == 2
    assert charts.label_every(3, 200, 30) == 1
