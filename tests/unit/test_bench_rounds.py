"""`BENCH_ROUNDS` (bench/capacity.py): an engine's rounds at one rate make one row, clean only when every
round was, its CPU and its ratio to the plain dialplan the mean of the rounds', each round kept."""

from __future__ import annotations

from typing import Any

from bench.measure import clean_run, merge_rounds
from bench.results_md import _rounds


def run(ratio: float, asterisk: float, app: float, baseline: float, bad: int = 0) -> dict[str, Any]:
    return {"mode": "app", "cps": 8.0, "calls": 200, "answered": 200, "failed": 0, "recordings": 200,
            "bad_recordings": bad, "cpu_per_call_asterisk": asterisk, "cpu_per_call_app": app,
            "dialplan_cpu_per_call": baseline, "cpu_ratio_vs_dialplan": ratio,
            "notice_latency": {"p50": 0.7, "p99": 6.7, "n": 200}}


def test_one_round_is_the_run_itself() -> None:
    one = run(1.26, 0.0973, 0.0143, 0.0888)
    assert merge_rounds([one]) is one
    assert "rounds" not in one


def test_rounds_add_up_their_calls_and_average_their_cpu_and_ratio() -> None:
    rounds = [run(1.14, 0.1526, 0.0155, 0.1474), run(0.97, 0.1478, 0.0160, 0.1685),
              run(1.19, 0.1575, 0.0169, 0.1469)]
    row = merge_rounds(rounds)
    assert row["calls"] == row["answered"] == 600 and row["failed"] == 0
    assert row["cpu_ratio_vs_dialplan"] == round((1.14 + 0.97 + 1.19) / 3, 2) == 1.1
    assert row["cpu_per_call_asterisk"] == round((0.1526 + 0.1478 + 0.1575) / 3, 4)
    assert row["cpu_per_call_app"] == round((0.0155 + 0.0160 + 0.0169) / 3, 4)
    assert row["dialplan_cpu_per_call"] == round((0.1474 + 0.1685 + 0.1469) / 3, 4)
    assert [r["cpu_ratio_vs_dialplan"] for r in row["rounds"]] == [1.14, 0.97, 1.19]
    assert row["notice_latency"] == rounds[0]["notice_latency"]  # the first round's latencies
    assert rounds[0]["calls"] == 200 and "rounds" not in rounds[0]  # the runs themselves untouched
    assert clean_run(row)
    assert _rounds({"cpu_ratio_rounds": [1.14, 0.97, 1.19]}) == " (1.14x, 0.97x, 1.19x)"
    assert _rounds({}) == ""


def test_a_row_is_clean_only_when_every_round_was() -> None:
    row = merge_rounds([run(1.1, 0.15, 0.016, 0.15), run(1.2, 0.16, 0.016, 0.15, bad=3)])
    assert row["bad_recordings"] == 3
    assert not clean_run(row)


def test_a_round_another_client_spoilt_marks_the_row() -> None:
    spoilt = run(1.1, 0.15, 0.016, 0.15) | {"void": "ApplicationReplaced: another ARI client took it"}
    row = merge_rounds([run(1.1, 0.15, 0.016, 0.15), spoilt])
    assert row["void"].startswith("ApplicationReplaced")
    assert "void" not in merge_rounds([run(1.1, 0.15, 0.016, 0.15), run(1.2, 0.15, 0.016, 0.15)])
