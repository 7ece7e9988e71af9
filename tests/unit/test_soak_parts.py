"""The soak's own arithmetic (bench/soak/): its fault schedule, its growth slopes, and its reading of the
app's event log, on which the accounting of every call rests (issue 20)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bench.soak.accounting import finished_in_log, late_files, stories, stream_losses, talking_calls
from bench.soak.plan import schedule
from bench.soak.report import sipp_totals
from bench.soak.resources import memory_lines, slope_per_hour


@given(minutes=st.floats(3, 600), seed=st.integers(0, 2**32), smoke=st.booleans())
def test_the_faults_are_reproducible_inside_the_load_and_never_overlap(
    minutes: float, seed: int, smoke: bool,
) -> None:
    plan = schedule(minutes, seed, smoke)
    assert plan == schedule(minutes, seed, smoke)
    *during, last = plan
    assert last.what == "clock-past-7-days" and last.at_s == round(minutes * 60, 1)
    assert {"app-killed", "receiver-down"} <= {f.what for f in during}
    for a, b in itertools.pairwise(during):
        assert a.at_s + a.duration_s <= b.at_s, (a, b)
    assert all(0 < f.at_s and f.at_s + f.duration_s <= minutes * 60 for f in during)


def test_growth_per_hour_is_the_least_squares_slope() -> None:
    assert slope_per_hour([(t * 60.0, 100 + t) for t in range(10)]) == 60.0  # 1 MB a minute
    assert slope_per_hour([(t * 60.0, 100.0) for t in range(10)]) == 0.0
    assert slope_per_hour([(t * 60.0, 100.0) for t in range(5)]) is None  # too few to say


def test_the_memory_totals_are_read_from_json_and_text_logs(tmp_path: Path) -> None:
    totals = "resident 120.0 MB; native in use 30.1 MB, free held 12.0 MB (mapped 1.0 MB); threads 7"
    app = tmp_path / "app.log"
    logged = {"ts": "x", "level": "warning", "msg": f"memory: {totals}; gc counts (1, 2, 3); start with"}
    app.write_text(line("", "call answered") + json.dumps(logged) + "\n")
    worker = tmp_path / "worker.log"
    worker.write_text("2026-12-02 06:00:00 WARNING callrec_ari.observability.memory memory: "
                      f"snapshot /m/1.snap: {totals}; traced 40.0 MB (peak 41.0 MB); gc counts (0, 0, 0)\n")
    got = memory_lines({"app": app, "worker": worker, "gone": tmp_path / "absent.log"})
    assert got["app"] == [totals]
    assert got["worker"] == [f"snapshot /m/1.snap: {totals}; traced 40.0 MB (peak 41.0 MB)"]
    assert "gone" not in got


def line(call_id: str, msg: str, **extra: object) -> str:
    return json.dumps({"ts": "2026-12-02T06:16:48.123+00:00", "level": "info", "msg": msg,
                       "call_id": call_id, **extra}) + "\n"


def test_the_app_log_gives_each_finished_call_and_stands_in_for_one_that_never_finished(
    tmp_path: Path,
) -> None:
    done = {"call_id": "c1", "answered": True, "recorded": True, "reason": "recorded"}
    log = tmp_path / "app.log"
    log.write_text(
        line("c1", "call=c1 start direction=outgoing record=True line=1001 dialled=0312345678")
        + line("c1", "call=c1 recording started name=callrec/c1/c1-001")
        + line("c1", "call=c1 finished " + json.dumps(done), event="CallFinished")
        # killed with its recording running, never finished in any run: lost unless delivered
        + line("c2", "call=c2 start direction=outgoing record=True line=1002 dialled=0312345678")
        + line("c2", "call=c2 recording started name=callrec/c2/c2-001")
        + line("c1", "call=c1 talking")
        + line("c3", "call=c3 stream 1 could not start: customer not reachable")
        + "not json at all c2\n"
    )
    calls = finished_in_log(log)
    assert calls["c1"] == done
    assert calls["c2"] == {"call_id": "c2", "line_endpoint": "1002", "answered": True, "recorded": True,
                           "reason": "never-finished"}
    assert stream_losses(log) == {"c3"}
    assert talking_calls(log) == {"c1"}
    told = stories(log, ["c2", "c9"])
    assert told["c9"] == []
    assert told["c2"][0].startswith("06:16:48.123 info call=c2 start")
    assert told["c2"][-1] == "not json at all c2"
    assert finished_in_log(tmp_path / "none.log") == {} and stories(tmp_path / "none.log", []) == {}


def test_sipp_totals_read_the_last_line_of_its_statistics(tmp_path: Path) -> None:
    csv = tmp_path / "uac.csv"
    csv.write_text("TotalCallCreated;SuccessfulCall(C);FailedCall(C)\n1;1;0\n40;38;2\n")
    assert sipp_totals(csv) == {"created": 40, "successful": 38, "failed": 2}
    assert sipp_totals(tmp_path / "missing.csv") == {"created": 0, "successful": 0, "failed": 0}


def test_the_late_files_the_app_removed_are_read_from_its_log(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        line("c1", "recording callrec/c1/c1-003: MixMonitor wrote its file after the segment was counted "
                   "void: removed (the segment before holds that moment)")
        + line("c2", "call=c2 recording callrec/c2/c2-002 wrote no file: its leg went as it began")
        + "not json, after the segment was counted void\n"
    )
    assert late_files(log) == ["callrec/c1/c1-003"]
    assert late_files(tmp_path / "none.log") == []
