"""The platform `make bench` loads (bench/capacity.py, bench/joins.py): one Asterisk 22
(scripts/asterisk-root.sh) with the baseline's dialplan beside ours, `callrec run`, `callrec deliver`,
the reference receiver and the answering SIPp, each a process of its own whose CPU is read from /proc;
and how calls are placed on it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    ARI,
    AS_CUSTOMERS_SERVER,
    AS_DELIVERY_UNIT,
    ROOT,
    VENV_BIN,
    ari_get,
    cpu_seconds,
    find_descendant,
    free_port,
    log,
    stop_process,
    thread_cpu_seconds,
    tree_cpu_seconds,
    wait_until,
)
from bench.measure import histogram_buckets, sipp_stats
from bench.notice import install_baseline_notice
from bench.recordings import CALLEE_TONE, CALLER_TONE

sys.path.insert(0, str(ROOT))
from callrec_ari.pbx.local import LocalAsterisk, root_path
from tests.support.sipp import tone_file, uac_scenario, uas_scenario

OUTSIDE = "0312345678"
SECRET = "bench-secret-0123456789"
UAC_PORT, UAC_MEDIA = 5070, 6000
UAS_PORT, UAS_MEDIA = 5080, 6010


# The share of the app's highest clean rate at which a node is judged under load (the notice's
# latency, issue 15's aim of a p99 of at most 40 ms; the segment joins): a node is run below its limit.
LOADED_SHARE = 0.8


@dataclass
class Plan:
    rates: list[float]
    talk_s: float
    window_s: float  # seconds of call arrivals per rate



# The app's recording engines, each run at every step: the first is the "app" row (the default
# engine), the second the engine that records the calls the dialplan does not carry;
# BENCH_ENGINES=dialplan,mixmonitor,snoop,per-leg measures the older ones too (docs/performance.md
# keeps their figures), BENCH_ENGINES=snoop runs only that one, and "bridge" (measured worse at every rate,
# docs/performance.md) is no longer run unless named. "per-leg" is the snoop engine with the lines'
# files in stereo: each leg recorded apart (media/recorder.py PerLegRecorder), as for a stereo copy or a
# notice per party ("per-leg-<engine>": the app on that engine; a per-leg call is recorded by snoop
# channels on every engine but mixmonitor, which records a stereo call with one notice by MixMonitor's D,
# media/__init__.py recorder_for). On mixmonitor, a "-apart" suffix records every call with D, a
# "-mixed" one none (``mixmonitor_directions`` "all" and "none"; without: $CALLREC_MIXMONITOR_DIRECTIONS,
# else "stereo", the app's default).
DIRECTIONS = {"-apart": "all", "-mixed": "none"}
# "dialplan": the dialplan carries the call (calls/carry.py); also: bridge
ENGINES = tuple(os.environ.get("BENCH_ENGINES", "dialplan,mixmonitor").split(","))
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
        install_baseline_notice()  # for the baseline's Dial, after the root's sync
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
        # The customer's server shares this machine only for the bench: at the lowest priority it takes
        # the CPU that Asterisk and the app leave, as if it were on its own machine (its CPU is shown
        # beside the app's, never counted in it; the baseline has no receiver at all).
        self.procs["receiver"] = self._spawn(
            "receiver",
            [*AS_CUSTOMERS_SERVER, cr, "receiver", "--dir", str(self.received), "--port", str(port)],
            dict(env, CALLREC_RECEIVER_SECRET=SECRET))
        self.procs["app"] = self._spawn("app", [cr, "run", "--config", str(cfg)], env)
        if not wait_until(self._app_ready, 60):
            raise RuntimeError(f"callrec run did not register with ARI: see {self.work / 'app.log'}")
        self.procs["worker"] = self._spawn("worker", [*AS_DELIVERY_UNIT, cr, "deliver", "--config", str(cfg),
                                                      "--no-migrate"], env)
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
        """The app on ``engine``, rolling its recording files and cutting the delivered segments every
        ``segment_seconds`` (None: the app's defaults, longer than any bench call); restarted when
        either changes."""
        suffix = next((s for s in DIRECTIONS if engine.endswith(s)), "")
        directions = DIRECTIONS.get(suffix, os.environ.get("CALLREC_MIXMONITOR_DIRECTIONS", "stereo"))
        engine = engine.removesuffix(suffix)
        per_leg = engine.startswith("per-leg")  # "per-leg": on snoop; "per-leg-<engine>": on that engine
        engine = (engine.removeprefix("per-leg").removeprefix("-") or "snoop") if per_leg else engine
        if (self._env.get("CALLREC_RECORDING_ENGINE") == engine and self._per_leg == per_leg
                and self._segment_s == segment_seconds
                and self._env.get("CALLREC_MIXMONITOR_DIRECTIONS") == directions):
            return
        self._env["CALLREC_RECORDING_ENGINE"] = engine
        self._env["CALLREC_MIXMONITOR_DIRECTIONS"] = directions
        self._per_leg, self._segment_s = per_leg, segment_seconds
        for key in ("CALLREC_SEGMENT_SECONDS", "CALLREC_RECORDING_ROLL_SECONDS"):
            if segment_seconds:
                self._env[key] = f"{segment_seconds:g}"
            else:
                self._env.pop(key, None)
        self.cfg.write_text(self._cfg_text + (PER_LEG_LINES if per_leg else ""))
        self.restart_app()
        wait_until(self._metrics_up, 30)

    def _metrics_up(self) -> bool:
        try:
            return bool(self.metrics())
        except Exception:
            return False

    def metrics_page(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())

    def metrics(self) -> dict[str, float]:
        """The app's notice-latency histogram buckets (cumulative counts by upper bound)."""
        return histogram_buckets(self.metrics_page(), "callrec_notice_latency_seconds")

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
        worker, app = cpu_seconds(self.procs["worker"].pid), self.procs["app"].pid
        # The app's share split: its event loop's thread, its other threads (log writer, journal,
        # planning), its hand-over's worker processes (app/handover.py), and the delivery worker.
        return {"asterisk": cpu_seconds(self.asterisk_pid),
                "app": tree_cpu_seconds(app) + worker, "worker": worker,
                "app_loop": thread_cpu_seconds(app, app), "app_process": cpu_seconds(app),
                # the customer's side, on this machine only for the bench (it is not the platform's)
                "receiver": cpu_seconds(self.procs["receiver"].pid)}


def place_calls(stack: Stack, tag: str, tone: Path, service: str, rate: float, calls: int,
                p: Plan, talk_s: float | None = None) -> tuple[int, dict[str, int]]:
    """``calls`` calls of line 1001 to ``service`` at ``rate``, each sending ``tone`` for ``talk_s``
    after its answer (the plan's talk by default); SIPp's exit status and its statistics, once every
    call has ended."""
    scenario = stack.work / f"uac-{tag}.xml"
    scenario.write_text(uac_scenario(tone=tone, talk_ms=int((p.talk_s if talk_s is None else talk_s) * 1000)))
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
