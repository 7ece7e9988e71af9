"""Shared pieces of the benchmarks: the machine lock, process CPU and memory from /proc, waiting."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
LOCK_PATH = "/tmp/callrec-asterisk.lock"
CLK_TCK = os.sysconf("SC_CLK_TCK")
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
# `callrec deliver` runs at the shipped unit's priority (deploy/systemd/callrec-deliver.service, Nice=10).
AS_DELIVERY_UNIT = ["nice", "-n", "10"]
# The reference receiver, the customer's server (bench/stack.py): lowest priority.
AS_CUSTOMERS_SERVER = ["nice", "-n", "19"]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@contextmanager
def asterisk_lock(timeout: float = 1800.0) -> Iterator[None]:
    """The machine's one-Asterisk lock (the tests take the same one): held while we run Asterisk,
    SIPp, and use ports 5060/5070/5080/5090, 8088 and media 6000-6030."""
    fh = open(LOCK_PATH, "w")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError as exc:
            if time.monotonic() > deadline:
                fh.close()
                raise TimeoutError(f"{LOCK_PATH} still held by someone else after {timeout:.0f}s") from exc
            log("waiting for the Asterisk lock (tests or another benchmark are running)")
            time.sleep(5)
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _stat_cpu_seconds(stat_path: str) -> float:
    try:
        with open(stat_path) as fh:
            stat = fh.read()
    except FileNotFoundError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 when it is gone."""
    return _stat_cpu_seconds(f"/proc/{pid}/stat")


def thread_cpu_seconds(pid: int, tid: int) -> float:
    """utime + stime of one thread of a process, in seconds; 0 when it is gone. The main thread's id is
    the process's (``callrec run``'s event loop runs there)."""
    return _stat_cpu_seconds(f"/proc/{pid}/task/{tid}/stat")


def tree_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` of a process and of every process under it (the app's hand-over workers,
    app/handover.py), plus what its children that have ended spent (cutime + cstime)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += cpu_seconds(p)
        todo.extend(children(p))
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        total += (int(fields[13]) + int(fields[14])) / CLK_TCK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        pass
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all CPUs, /proc/stat: everything but idle and iowait)."""
    with open("/proc/stat") as fh:
        parts = fh.readline().split()[1:]
    vals = [int(v) for v in parts[:8]]
    return (sum(vals) - vals[3] - vals[4]) / CLK_TCK


def vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def find_descendant(pid: int, comm: str, timeout: float = 30.0) -> int:
    """The pid of the first descendant of ``pid`` named ``comm`` (e.g. asterisk under its chroot)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        todo, seen = [pid], 0
        while todo and seen < 10_000:
            p = todo.pop()
            seen += 1
            try:
                name = Path(f"/proc/{p}/comm").read_text().strip()
            except OSError:
                name = ""
            if name == comm:
                return p
            todo.extend(children(p))
        time.sleep(0.2)
    raise RuntimeError(f"no process {comm!r} under pid {pid}")


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free now: each socket is held until all are chosen (one at a time, the
    kernel may hand the port just released out again: two receivers of a bench part once got one)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(n):
            s = held.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Stop a process this benchmark started (by its own pid only)."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# The bench's Asterisk (scripts/asterisk-root.sh, the shipped ARI user of dialplan/ari.conf).
ARI = "http://127.0.0.1:8088/ari"
ARI_AUTH = "Basic " + base64.b64encode(b"callrec:callrec").decode()


def ari_get(path: str) -> Any:
    req = urllib.request.Request(ARI + path, headers={"Authorization": ARI_AUTH})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null")


def ari_delete(path: str) -> None:
    req = urllib.request.Request(ARI + path, headers={"Authorization": ARI_AUTH}, method="DELETE")
    try:
        urllib.request.urlopen(req, timeout=5).close()
    except Exception:
        pass


def channel_count() -> int:
    try:
        return len(ari_get("/channels"))
    except Exception:
        return -1
