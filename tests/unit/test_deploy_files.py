"""The files an operator deploys with: alert rules name metrics the code really exports, and the
systemd units start commands and options the CLI really has."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from callrec_ari.cli import build_parser
from callrec_ari.observability.metrics import REGISTRY

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _exported_series() -> set[str]:
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        names.update(sample.name for sample in metric.samples)
        if metric.type == "counter":
            names.add(metric.name + "_total")
        if metric.type == "histogram":
            names.update(metric.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def _alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "callrec-alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_alert_rules_use_only_metrics_the_code_exports() -> None:
    exported = _exported_series()
    rules = _alert_rules()
    assert len(rules) >= 4
    for rule in rules:
        used = set(re.findall(r"\bcallrec_[a-z_]+", str(rule["expr"])))
        assert used, f"{rule['alert']} names no callrec metric"
        assert used <= exported, f"{rule['alert']} uses {sorted(used - exported)}, not exported"


def test_the_pager_covers_ari_recording_spool_and_queue_age() -> None:
    exprs = " ".join(str(rule["expr"]) for rule in _alert_rules() if rule["labels"]["severity"] == "page")
    for metric in ("callrec_ari_connected", "callrec_calls_total", "callrec_spool_low",
                   "callrec_delivery_queue_oldest_seconds"):
        assert metric in exprs


def test_the_queue_age_alert_fires_before_the_seven_day_deletion() -> None:
    (rule,) = [r for r in _alert_rules() if "oldest_seconds" in str(r["expr"])]
    factors = str(rule["expr"]).split(">")[1].split("*")
    threshold = 1
    for factor in factors:
        threshold *= int(factor)
    assert 0 < threshold < 7 * 86400


def _units() -> list[Path]:
    return sorted((DEPLOY / "systemd").glob("*.service"))


def test_systemd_units_are_shipped_for_every_service() -> None:
    names = {unit.stem for unit in _units()}
    assert {"callrec-app", "callrec-deliver", "callrec-portal", "callrec-migrate"} <= names


@pytest.mark.parametrize("unit", _units(), ids=lambda p: p.name)
def test_systemd_unit_runs_a_real_command(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    exec_start = parser["Service"]["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/callrec/bin/callrec"
    args = build_parser().parse_args(argv[1:])  # exits (fails the test) on an unknown option
    assert args.command in {"run", "deliver", "portal", "db", "privacy"}
    assert parser["Service"].get("User") == "callrec"


def test_the_dashboard_shows_only_metrics_the_code_exports_and_all_of_them() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "callrec-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bcallrec_[a-z_]+", expr)}
    exported = _exported_series()
    assert used <= exported, sorted(used - exported)
    families = {metric.name for metric in REGISTRY.collect()}
    shown = {name.removesuffix("_total").removesuffix("_bucket") for name in used}
    assert families <= shown, f"not on the dashboard: {sorted(families - shown)}"
