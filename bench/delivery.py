"""Delivery: ZIP + upload throughput of our code path vs `zip` + `curl`, to the same reference receiver,
on the same WAV files; and peak memory of `callrec deliver --once` uploading a 1 GB recording.

Ours = RecordingSubmitter.submit (what the app runs when a call ends: ZIP + manifest + durable queue
row), one call after the other, then `callrec deliver` (the worker process, 4 uploads in flight) until
the receiver has acknowledged every ZIP. Baseline = bench/zip_curl.sh: `zip -6` per call, then curl
with the same HMAC/sha256 headers (openssl, sha256sum), 4 at a time. MB = 10^6 bytes of WAV input.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import wave
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import QUICK, ROOT, VENV_BIN, free_port, log, stop_process, vm_hwm_kb, wait_until

sys.path.insert(0, str(ROOT))
from callrec_ari.db.migrate import upgrade
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings

SECRET = "bench-secret-0123456789"
RATE = 8000


def write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


def speechlike(seconds: float, seed: int) -> bytes:
    """A tone plus noise at a moderate level: compresses about as badly as a real call does."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def make_calls(src: Path, calls: int, segments: int, seg_s: float) -> list[dict[str, Any]]:
    src.mkdir(parents=True, exist_ok=True)
    pool = speechlike(seg_s + 7, 1)
    out = []
    # Recent (retention purges calls older than 7 days), to the second.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    for c in range(calls):
        call_id = f"bench-{c:04d}"
        begun = start + timedelta(seconds=c * 10)
        segs = []
        for s in range(segments):
            path = src / f"{call_id}-{s + 1:03d}.wav"
            off = ((c * 7 + s) % 7) * RATE * 2  # a different slice per file
            write_wav(path, pool[off: off + int(seg_s * RATE) * 2])
            segs.append((path, begun + timedelta(seconds=s * seg_s)))
        ended = begun + timedelta(seconds=segments * seg_s)
        record = {"call_id": call_id, "direction": "outgoing", "line": "09000001001",
                  "caller": "09000001001", "callee": "0312345678", "answered": begun.isoformat(),
                  "notice_started": begun.isoformat(), "ended": ended.isoformat()}
        out.append({"record": record, "segments": segs})
    return out


def copy_segments(calls: list[dict[str, Any]], dest: Path) -> list[dict[str, Any]]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for call in calls:
        segs = []
        for path, started in call["segments"]:
            target = dest / path.name
            shutil.copyfile(path, target)
            segs.append((target, started))
        out.append({"record": call["record"], "segments": segs})
    return out


def settings_for(work: Path, port: int) -> DeliverySettings:
    return DeliverySettings(
        database_url=f"sqlite:///{work / 'delivery.db'}", spool_dir=str(work / "spool"),
        poll_interval=0.2, retry_interval=5.0, backoff_initial=0.2, backoff_max=1.0,
        connection=ConnectionSettings(type="http", url=f"http://127.0.0.1:{port}/recordings", secret=SECRET),
    )


def worker_env(work: Path, s: DeliverySettings) -> dict[str, str]:
    cfg = work / "delivery.toml"
    cfg.write_text(f"""
[delivery]
spool_dir = "{s.spool_dir}"
allow_destinations = ["127.0.0.0/8", "::1/128"]  # the bench's receivers are on loopback
poll_interval = {s.poll_interval}
retry_interval = {s.retry_interval}
backoff_initial = {s.backoff_initial}
backoff_max = {s.backoff_max}
per_connection = 4

[delivery.connection]
url = "{s.connection.url}"
secret = "{SECRET}"
""")
    return dict(os.environ, CALLREC_CONFIG=str(cfg), CALLREC_DATABASE_URL=s.database_url)


def run_delivery(work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    n_calls, n_segs, seg_s = (8, 2, 60.0) if QUICK else (24, 3, 180.0)
    big_segs = 4 if QUICK else 18  # x 3600 s x 16 kB/s = 57.6 MB each: 18 -> 1.04 GB
    received = work / "received"
    port = free_port()
    recv = subprocess.Popen([str(VENV_BIN / "callrec"), "receiver", "--dir", str(received),
                             "--port", str(port)], stdout=open(work / "receiver.log", "wb"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, CALLREC_RECEIVER_SECRET=SECRET))
    try:
        return _run(work, received, port, n_calls, n_segs, seg_s, big_segs)
    finally:
        stop_process(recv)
        shutil.rmtree(work / "src", ignore_errors=True)
        shutil.rmtree(work / "ours", ignore_errors=True)
        shutil.rmtree(work / "base", ignore_errors=True)
        shutil.rmtree(work / "big", ignore_errors=True)
        shutil.rmtree(work / "spool", ignore_errors=True)
        shutil.rmtree(received, ignore_errors=True)


def _zips(d: Path) -> list[Path]:
    return sorted(d.glob("*.zip"))


def _run(work: Path, received: Path, port: int, n_calls: int, n_segs: int, seg_s: float,
         big_segs: int) -> dict[str, Any]:
    log(f"delivery: generating {n_calls} calls x {n_segs} segments x {seg_s:.0f} s")
    calls = make_calls(work / "src", n_calls, n_segs, seg_s)
    wav_bytes = sum(p.stat().st_size for c in calls for p, _ in c["segments"])
    mb = wav_bytes / 1e6
    s = settings_for(work, port)
    upgrade(s.database_url)
    env = worker_env(work, s)

    # --- ours: package (as the app does) then the worker uploads
    ours = copy_segments(calls, work / "ours")
    subprocess.run(["sync"], check=False)
    submitter = RecordingSubmitter(s)
    t0 = time.monotonic()
    for call in ours:
        submitter.submit(call["record"], call["segments"])
    t_pack = time.monotonic() - t0
    zip_bytes = sum(p.stat().st_size for p in s.outbox.glob("*.zip"))
    t1 = time.monotonic()
    worker = subprocess.Popen([str(VENV_BIN / "callrec"), "deliver", "--no-migrate"], env=env,
                              stdout=open(work / "worker.log", "wb"), stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    ok = wait_until(lambda: len(_zips(received)) >= n_calls, 300, step=0.05)
    t_upload = time.monotonic() - t1
    stop_process(worker)
    if not ok:
        raise RuntimeError(f"worker delivered {len(_zips(received))}/{n_calls}: see {work / 'worker.log'}")
    ours_s = t_pack + t_upload
    log(f"delivery ours: {mb:.1f} MB WAV -> {zip_bytes / 1e6:.1f} MB ZIP, pack {t_pack:.2f}s, "
        f"upload {t_upload:.2f}s")

    # --- baseline: same WAV bytes, same manifests (taken from what our receiver stored), zip + curl
    base = work / "base"
    dirs = []
    for call, z in zip(calls, _zips(received), strict=True):
        d = base / z.stem
        d.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(z) as zf:
            (d / "manifest.json").write_bytes(zf.read("manifest.json"))
        for i, (path, _) in enumerate(call["segments"], start=1):
            shutil.copyfile(path, d / f"segment-{i:03d}.wav")
        dirs.append(str(d))
    for z in _zips(received):
        z.unlink()
    subprocess.run(["sync"], check=False)
    t2 = time.monotonic()
    res = subprocess.run(["bash", str(ROOT / "bench" / "zip_curl.sh"), s.connection.url, SECRET, *dirs],
                         capture_output=True, text=True, timeout=600)
    base_s = time.monotonic() - t2
    if res.returncode != 0 or len(_zips(received)) < n_calls:
        raise RuntimeError(f"zip+curl baseline failed ({res.returncode}): {res.stderr[-2000:]}")
    base_zip_bytes = sum((base / f"{Path(d).name}.zip").stat().st_size for d in dirs)
    log(f"delivery baseline: zip+curl {base_s:.2f}s ({base_zip_bytes / 1e6:.1f} MB ZIP)")
    for z in _zips(received):
        z.unlink()
    shutil.rmtree(base, ignore_errors=True)

    # --- peak memory: one call of ~1 GB, packaged, then `callrec deliver --once` as a subprocess
    big = make_calls(work / "big", 1, big_segs, 3600.0)
    big[0]["record"]["call_id"] = "bench-big"
    big_bytes = sum(p.stat().st_size for p, _ in big[0]["segments"])
    spec = json.dumps({"record": big[0]["record"],
                       "segments": [[str(p), t.isoformat()] for p, t in big[0]["segments"]]})
    pack_rss, t_big_pack = _peak_rss([sys.executable, "-c", PACK_SNIPPET, spec], env, work / "pack-big.log")
    up_rss, t_big_up = _peak_rss([str(VENV_BIN / "callrec"), "deliver", "--once", "--no-migrate"], env,
                                 work / "deliver-big.log")
    if not _zips(received):
        raise RuntimeError(f"the 1 GB recording was not delivered: see {work / 'deliver-big.log'}")
    log(f"delivery 1 GB: {big_bytes / 1e6:.0f} MB, worker peak RSS {up_rss:.1f} MB "
        f"(upload {t_big_up:.1f}s), packager peak RSS {pack_rss:.1f} MB (pack {t_big_pack:.1f}s)")

    mb_s, base_mb_s = mb / ours_s, mb / base_s
    return {
        "mb_per_s": round(mb_s, 2), "baseline_mb_per_s": round(base_mb_s, 2),
        "ratio": round(mb_s / base_mb_s, 3), "peak_rss_mb_1gb": round(up_rss, 1),
        "details": {
            "calls": n_calls, "segments_per_call": n_segs, "segment_seconds": seg_s,
            "wav_mb": round(mb, 1), "zip_mb": round(zip_bytes / 1e6, 1),
            "baseline_zip_mb": round(base_zip_bytes / 1e6, 1),
            "ours_package_s": round(t_pack, 2), "ours_upload_s": round(t_upload, 2),
            "baseline_s": round(base_s, 2),
            "big_recording_mb": round(big_bytes / 1e6, 1), "big_upload_s": round(t_big_up, 2),
            "big_package_s": round(t_big_pack, 2), "peak_rss_mb_packaging_1gb": round(pack_rss, 1),
        },
    }


PACK_SNIPPET = """
import json, sys
from callrec_ari.delivery import RecordingSubmitter, load_delivery_settings
spec = json.loads(sys.argv[1])
RecordingSubmitter(load_delivery_settings()).submit(spec["record"], [tuple(s) for s in spec["segments"]])
"""


def _peak_rss(cmd: list[str], env: dict[str, str], out: Path) -> tuple[float, float]:
    """Peak RSS (MB: the last VmHWM read from /proc/<pid>/status, polled every 20 ms) and run time of a
    subprocess. (wait4's ru_maxrss is not used: Linux carries the forking parent's high-water mark into
    it.)"""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=open(out, "wb"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    hwm = 0
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        hwm = max(hwm, vm_hwm_kb(proc.pid))
        pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        time.sleep(0.02)
    else:
        stop_process(proc, signal.SIGKILL)
        raise RuntimeError(f"{cmd[:3]} did not finish in 900 s")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}: see {out}")
    return hwm / 1024.0, time.monotonic() - t0


if __name__ == "__main__":
    print(json.dumps(run_delivery(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/callrec-bench-delivery")),
                     indent=2))
