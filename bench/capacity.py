"""Capacity: SIPp load (RTP both ways) through the real Asterisk 22, with our app + file delivery, and
through the plain-dialplan baseline ([bench-baseline]: MixMonitor + Dial, no ARI app).

One Asterisk (scripts/asterisk-root.sh) for the whole run, under the machine's Asterisk lock. For each
rate, the baseline run and the app run happen back to back on the same Asterisk, so their ratio is
measured under the same conditions. The app (`callrec run`), the delivery worker (`callrec deliver`)
and the reference receiver (`callrec receiver`) are separate processes; CPU is read from
/proc/<pid>/stat (utime+stime, all threads) before and after each run:
  - Asterisk: the asterisk process inside the chroot;
  - app: `callrec run` + `callrec deliver` (the receiver is the customer's side and is not counted).
A run's CPU window closes once the last call has ended and (app) the last ZIP has been acknowledged
by the receiver, so packaging and upload are inside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    ARI,
    QUICK,
    ROOT,
    VENV_BIN,
    ari_delete,
    ari_get,
    channel_count,
    cpu_seconds,
    find_descendant,
    free_port,
    log,
    machine_busy_seconds,
    stop_process,
    wait_until,
)
from bench.measure import BUSY_BEFORE_PCT, histogram_buckets, histogram_quantile_ms, idle_before, sipp_stats
from bench.profiling import start_perf, start_py_spy, stop_perf, stop_py_spy
from bench.recordings import CALLEE_TONE, CALLER_TONE, check_wav, check_zip

sys.path.insert(0, str(ROOT))
from callrec_ari.pbx.local import LocalAsterisk, root_path
from tests.support.sipp import tone_file, uac_scenario, uas_scenario

OUTSIDE = "0312345678"
SECRET = "bench-secret-0123456789"
UAC_PORT, UAC_MEDIA = 5070, 6000
UAS_PORT, UAS_MEDIA = 5080, 6010
CPUS = os.cpu_count() or 1


@dataclass
class Plan:
    rates: list[float]
    talk_s: float
    window_s: float  # seconds of call arrivals per rate


def plan() -> Plan:
    if os.environ.get("BENCH_RATES"):  # e.g. BENCH_RATES=8,10: only these steps
        rates = [float(r) for r in os.environ["BENCH_RATES"].split(",")]
        return Plan(rates=rates, talk_s=8 if QUICK else 20, window_s=6 if QUICK else 25)
    if QUICK:
        return Plan(rates=[1, 2], talk_s=8, window_s=6)
    # 20-second calls, in steps of 2 cps until the plain dialplan fails (run_capacity stops there).
    # The RTP range is widened for the bench (bench/asterisk/rtp.conf: 20,000 ports), so ports are
    # never the limit.
    return Plan(rates=[2, 4, 6, 8, 10, 12, 14, 16], talk_s=20, window_s=25)


# The app's recording engines, each run at every step: the first is the "app" row (the default
# engine); BENCH_ENGINES=snoop runs only that one. "per-leg" is the snoop engine with the lines'
# files in stereo: each leg recorded apart (media/recorder.py PerLegRecorder), as for a stereo copy or a
# notice per party.
ENGINES = tuple(os.environ.get("BENCH_ENGINES", "snoop,bridge,per-leg").split(","))
PER_LEG_LINES = "".join(f'\n[[lines]]\nendpoint = "{n}"\nnumber = "0900000{n}"\naudio_channels = "stereo"\n'
                        for n in (1001, 1002, 1003, 1004))


@dataclass
class Stack:
    """Asterisk + app + worker + receiver + the answering SIPp, all started (and stopped) by us."""

    work: Path
    asterisk: LocalAsterisk | None = None
    asterisk_pid: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    received: Path = Path()
    baseline_dir: Path = Path()
    transcript: Path = Path()
    metrics_port: int = 0
    replaced_seen: int = 0
    tones: dict[str, Path] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict)
    cfg: Path = Path()
    _cfg_text: str = ""
    _per_leg: bool = False
    _segment_s: float | None = None

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.tones = {"caller": tone_file(self.work, CALLER_TONE, 200),
                      "callee": tone_file(self.work, CALLEE_TONE, 200)}
        log("starting Asterisk 22 (scripts/asterisk-root.sh run)")
        # The baseline's dialplan lives in bench/asterisk/, added for this run only.
        os.environ["CALLREC_ASTERISK_EXTRA_CONF"] = str(Path(__file__).resolve().parent / "asterisk")
        self.asterisk = LocalAsterisk(self.work / "asterisk.log")
        asyncio.run(self.asterisk.start(timeout=120))
        assert self.asterisk.process is not None
        self.asterisk_pid = find_descendant(self.asterisk.process.pid, "asterisk")
        rec_dir = root_path() / "var/spool/asterisk/recording"
        self.baseline_dir = rec_dir / "bench"
        self.baseline_dir.mkdir(parents=True, exist_ok=True)
        st = rec_dir.stat()
        os.chown(self.baseline_dir, st.st_uid, st.st_gid)
        for f in self.baseline_dir.glob("*.wav"):
            f.unlink()

        self.received = self.work / "received"
        port = free_port()
        self.transcript = self.work / "ari-events.jsonl"
        cfg = self.work / "callrec.toml"
        self.metrics_port = free_port()
        # Production settings: no ARI transcript; latency from the app's own histogram on /metrics.
        self.cfg = cfg
        cfg.write_text(f"""
ari_url = "{ARI}"
http_port = {self.metrics_port}
asterisk_recording_dir = "{rec_dir}"

[delivery]
spool_dir = "{self.work / 'spool'}"
allow_destinations = ["127.0.0.0/8", "::1/128"]  # the bench's receivers are on loopback

[delivery.connection]
url = "http://127.0.0.1:{port}/recordings"
secret = "{SECRET}"
""")
        if (ROOT / "callrec_ari" / "streaming" / "settings.py").exists():
            # `callrec run` validates the stream connection at start even when every line uses files.
            with cfg.open("a") as fh:
                fh.write(f'\n[stream]\nsecret = "{SECRET}"\n')
        self._cfg_text = cfg.read_text()
        # CALLREC_DEMO: the bench's Asterisk has the shipped ARI password (dialplan/ari.conf)
        env = dict(os.environ, CALLREC_DEMO="1", CALLREC_ARI_URL=ARI,
                   CALLREC_ASTERISK_RECORDING_DIR=str(rec_dir),
                   CALLREC_RECORDING_ENGINE=ENGINES[0],
                   CALLREC_DATABASE_URL=f"sqlite:///{self.work / 'callrec.db'}", CALLREC_CONFIG=str(cfg))
        self._env = env
        cr = str(VENV_BIN / "callrec")
        self.procs["receiver"] = self._spawn("receiver", [cr, "receiver", "--dir", str(self.received),
                                                          "--port", str(port)],
                                             dict(env, CALLREC_RECEIVER_SECRET=SECRET))
        self.procs["app"] = self._spawn("app", [cr, "run", "--config", str(cfg)], env)
        if not wait_until(self._app_ready, 60):
            raise RuntimeError(f"callrec run did not register with ARI: see {self.work / 'app.log'}")
        self.procs["worker"] = self._spawn("worker", [cr, "deliver", "--config", str(cfg), "--no-migrate"],
                                           env)
        self.answer_with(self.tones["callee"])
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: see {self.work / (name + '.log')}")

    def answer_with(self, tone: Path) -> None:
        """The carrier's side (SIPp, answering every call) sends ``tone``; restarted when running."""
        if "uas" in self.procs:
            stop_process(self.procs.pop("uas"), signal.SIGUSR1)
        uas = self.work / "uas.xml"
        uas.write_text(uas_scenario(tone=tone))
        self.procs["uas"] = self._spawn("uas", [
            "sipp", "-sf", str(uas), "-i", "127.0.0.1", "-p", str(UAS_PORT), "-mi", "127.0.0.1",
            "-mp", str(UAS_MEDIA), "-nostdin", "-l", "5000", "-trace_err",
            "-error_file", str(self.work / "uas.errors.log"),
        ], self._env)
        time.sleep(1.0)

    def restart_app(self) -> None:
        stop_process(self.procs["app"])
        self.procs["app"] = self._spawn("app", self.procs["app"].args, self._env)  # type: ignore[arg-type]
        wait_until(self._app_ready, 60)

    def use_engine(self, engine: str, segment_seconds: float | None = None) -> None:
        """The app on ``engine``, rolling segments every ``segment_seconds`` (None: the app's default,
        longer than any bench call); restarted when either changes."""
        per_leg = engine == "per-leg"
        engine = "snoop" if per_leg else engine
        if (self._env.get("CALLREC_RECORDING_ENGINE") == engine and self._per_leg == per_leg
                and self._segment_s == segment_seconds):
            return
        self._env["CALLREC_RECORDING_ENGINE"] = engine
        self._per_leg, self._segment_s = per_leg, segment_seconds
        if segment_seconds:
            self._env["CALLREC_SEGMENT_SECONDS"] = f"{segment_seconds:g}"
        else:
            self._env.pop("CALLREC_SEGMENT_SECONDS", None)
        self.cfg.write_text(self._cfg_text + (PER_LEG_LINES if per_leg else ""))
        self.restart_app()
        wait_until(self._metrics_up, 30)

    def _metrics_up(self) -> bool:
        try:
            return bool(self.metrics())
        except Exception:
            return False

    def metrics(self) -> dict[str, float]:
        """The app's notice-latency histogram buckets (cumulative counts by upper bound)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return histogram_buckets(text, "callrec_notice_latency_seconds")

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = open(self.work / f"{name}.log", "ab")
        return subprocess.Popen(cmd, cwd=self.work, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)

    def _app_ready(self) -> bool:
        if self.procs["app"].poll() is not None:
            raise RuntimeError(f"callrec run exited: see {self.work / 'app.log'}")
        try:
            ari_get("/applications/callrec")
            return True
        except Exception:
            return False

    def stop(self) -> None:
        for name in ("uas", "worker", "app", "receiver"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                stop_process(proc, signal.SIGUSR1 if name == "uas" else signal.SIGTERM)
        if self.asterisk is not None:
            self.asterisk.stop()
            self.asterisk = None

    def cpu(self) -> dict[str, float]:
        worker = cpu_seconds(self.procs["worker"].pid)
        return {"asterisk": cpu_seconds(self.asterisk_pid),
                "app": cpu_seconds(self.procs["app"].pid) + worker, "worker": worker}


def place_calls(stack: Stack, tag: str, tone: Path, service: str, rate: float, calls: int,
                p: Plan) -> tuple[int, dict[str, int]]:
    """``calls`` calls of line 1001 to ``service`` at ``rate``, each sending ``tone`` for the plan's talk;
    SIPp's exit status and its statistics, once every call has ended."""
    scenario = stack.work / f"uac-{tag}.xml"
    scenario.write_text(uac_scenario(tone=tone, talk_ms=int(p.talk_s * 1000)))
    stat = stack.work / f"uac-{tag}.csv"
    limit = int(rate * (p.talk_s + 15)) + 10
    budget = p.window_s + p.talk_s + 120
    uac = subprocess.Popen([
        "sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(UAC_PORT), "-mi", "127.0.0.1",
        "-mp", str(UAC_MEDIA), "-nostdin", "-m", str(calls), "-r", str(rate), "-rp", "1000",
        "-l", str(limit), "-s", service, "-key", "user", "1001", "-au", "1001", "-ap", "callrec1001",
        "-recv_timeout", "30000", "-timeout", f"{int(budget)}s", "-timeout_error",
        "-trace_err", "-error_file", str(stack.work / f"uac-{tag}.errors.log"),
        "-trace_stat", "-stf", str(stat), "-fd", "5",
        "127.0.0.1:5060",
    ], cwd=stack.work, stdin=subprocess.DEVNULL, stdout=open(stack.work / f"uac-{tag}.out", "wb"),
        stderr=subprocess.STDOUT)
    try:
        rc = uac.wait(budget + 30)
    except subprocess.TimeoutExpired:
        stop_process(uac, signal.SIGUSR1)
        rc = -1
    return rc, sipp_stats(stat)


def run_load(stack: Stack, mode: str, rate: float, p: Plan) -> dict[str, Any]:
    """One run: rate x window calls of talk_s seconds, through the app on its default engine ("app"),
    the app on another engine ("app-<engine>"), or the dialplan ("dialplan")."""
    calls = max(1, round(rate * p.window_s))
    tag = f"{mode}-{rate:g}cps"
    is_app = mode.startswith("app")
    if is_app:
        stack.use_engine(ENGINES[0] if mode == "app" else mode.split("-", 1)[1])
    service = OUTSIDE if is_app else "9" + OUTSIDE
    busy_before = idle_before()
    metrics0 = stack.metrics() if is_app else {}
    before_zips = set(stack.received.glob("*.zip"))
    before_wavs = set(stack.baseline_dir.glob("*.wav"))
    cpu0, wall0 = stack.cpu(), time.monotonic()
    busy0 = machine_busy_seconds()
    perf = start_perf(stack.asterisk_pid, stack.work, tag)
    rc, stats = place_calls(stack, tag, stack.tones["caller"], service, rate, calls, p)
    wait_until(lambda: channel_count() == 0, 60)
    leftover = channel_count()
    if is_app:
        # File delivery is part of the load: close the window once every answered call is acknowledged.
        def delivered() -> bool:
            return len(set(stack.received.glob("*.zip")) - before_zips) >= stats["successful"]
        wait_until(delivered, 120)
    else:
        time.sleep(1.0)  # MixMonitor closes its file on hangup
    cpu1, wall = stack.cpu(), time.monotonic() - wall0
    busy = machine_busy_seconds() - busy0
    stop_perf(perf, stack.work, tag)
    if leftover:
        for ch in ari_get("/channels") if leftover > 0 else []:
            ari_delete(f"/channels/{ch['id']}")

    placed = stats["created"] or calls
    d_ast = cpu1["asterisk"] - cpu0["asterisk"]
    d_app = cpu1["app"] - cpu0["app"] if is_app else 0.0
    bad, reasons = 0, {}
    if is_app:
        new = sorted(set(stack.received.glob("*.zip")) - before_zips)
        files = new
        checker = check_zip
    else:
        new = sorted(set(stack.baseline_dir.glob("*.wav")) - before_wavs)
        files = new
        checker = check_wav
    good = 0
    for f in files:
        why = checker(f, p.talk_s)
        if why is None:
            good += 1
        else:
            reasons[f.name] = why
    bad = max(0, stats["successful"] - good)
    for f in files:  # keep the disk clean between runs
        f.unlink(missing_ok=True)

    result: dict[str, Any] = {
        "mode": mode, "cps": rate, "calls": placed, "answered": stats["successful"],
        "failed": stats["failed"] + max(0, placed - stats["successful"] - stats["failed"]),
        "recordings": len(files), "bad_recordings": bad, "bad_examples": dict(list(reasons.items())[:5]),
        "cpu_s_asterisk": round(d_ast, 2), "cpu_s_app": round(d_app, 2),
        "cpu_per_call_asterisk": round(d_ast / placed, 4), "cpu_per_call_app": round(d_app / placed, 4),
        # of which the delivery worker's (packaging happens in `callrec run`, at the call's end)
        "cpu_per_call_worker": round((cpu1["worker"] - cpu0["worker"]) / placed, 4) if is_app else 0.0,
        "wall_s": round(wall, 1), "sipp_rc": rc,
        # The whole machine's busy CPU in the window, and the share of it not Asterisk's or the app's
        # (SIPp, the receiver, this script, and anything else running on the machine at the time).
        "machine_busy_s": round(busy, 1), "machine_busy_pct": round(100 * busy / (wall * CPUS), 1),
        "other_cpu_s": round(busy - d_ast - d_app, 1), "channels_left": leftover,
        "concurrent_calls_max": stats["concurrent_max"],
        "machine_busy_before_pct": busy_before,
        "machine_not_idle_before": busy_before > BUSY_BEFORE_PCT,
    }
    if is_app:
        result["engine"] = "per-leg" if stack._per_leg else stack._env.get("CALLREC_RECORDING_ENGINE", "")
        # Another client registering the app name on this Asterisk takes our events away (seen once on the
        # shared machine): the run is then void, and the app is restarted for the next one.
        app_log = (stack.work / "app.log").read_text(errors="replace")
        if app_log.count("was taken over by another ARI client") > stack.replaced_seen:
            stack.replaced_seen = app_log.count("was taken over by another ARI client")
            result["void"] = "ApplicationReplaced: another ARI client took the app name during the run"
            stack.restart_app()
        metrics1 = stack.metrics()
        result["notice_latency"] = {
            "p50": histogram_quantile_ms(metrics0, metrics1, 0.5),
            "p99": histogram_quantile_ms(metrics0, metrics1, 0.99),
            "n": int(metrics1.get("+Inf", 0) - metrics0.get("+Inf", 0)),
            "source": "callrec_notice_latency_seconds (the app's histogram)",
        }
    log(f"{tag}: {json.dumps({k: v for k, v in result.items() if k != 'bad_examples'})}")
    if reasons:
        log(f"{tag}: bad recordings, e.g. {result['bad_examples']}")
    return result


def run_capacity(work: Path, profile: bool = False) -> dict[str, Any]:
    """Per rate: the plain dialplan, then the app on each engine, back to back on one Asterisk. The
    rates climb until the dialplan is no longer clean (that step is still run for every mode)."""
    p = plan()
    stack = Stack(work)
    runs: list[dict[str, Any]] = []
    profile_out: dict[str, Any] = {}
    try:
        stack.start()
        for rate in p.rates:
            # Settle between runs: no channels from the previous one.
            wait_until(lambda: channel_count() == 0, 30)
            base = run_load(stack, "dialplan", rate, p)
            row: dict[str, Any] = {"dialplan": base}
            for engine in ENGINES:
                mode = "app" if engine == ENGINES[0] else f"app-{engine}"
                wait_until(lambda: channel_count() == 0, 30)
                spy = None
                # --profile: py-spy on the app at every step; the last one's profile is kept.
                if profile and mode == "app":
                    # On the app that will take the load (a change of engine restarts it: a profile
                    # of the one before held 2 samples).
                    stack.use_engine(engine)
                    spy = start_py_spy(stack.procs["app"].pid, work, p.window_s + p.talk_s + 10)
                app = run_load(stack, mode, rate, p)
                if spy is not None:
                    stop_py_spy(spy)
                    profile_out = {"raw": str(work / "app-profile.txt"), "cps": rate}
                total_app = app["cpu_per_call_app"] + app["cpu_per_call_asterisk"]
                ratio = total_app / base["cpu_per_call_asterisk"] if base["cpu_per_call_asterisk"] else None
                app["cpu_ratio_vs_dialplan"] = None if ratio is None else round(ratio, 2)
                row[mode] = app
            runs.append(row)
            if base["failed"] or base["bad_recordings"]:
                break  # the dialplan's limit: no higher rate tells more
        from bench.joins import run_joins  # (it builds on this module)

        clean = [r["app"]["cps"] for r in runs if not r["app"]["failed"] and not r["app"]["bad_recordings"]]
        joins = run_joins(stack, max(clean, default=None))
    finally:
        stack.stop()
    return {"plan": p.__dict__, "engines": list(ENGINES), "runs": runs, "profile": profile_out,
            "work": str(work), "joins": joins}


def run_joins_alone(work: Path, clean_cps: float | None) -> dict[str, Any]:
    """`--only joins`: the joins under load on a stack of their own."""
    from bench.joins import run_joins

    stack = Stack(work)
    try:
        stack.start()
        return run_joins(stack, clean_cps)
    finally:
        stack.stop()
