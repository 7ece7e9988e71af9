"""Memory and descriptors of the platform's processes, and their growth per hour."""

from __future__ import annotations

import os
import subprocess
from collections import defaultdict


def rss_and_fds(pid: int) -> tuple[float, int] | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, StopIteration, ProcessLookupError, PermissionError):
        return None


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per hour; None with fewer than 6 points."""
    if len(points) < 6:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    return sum((t - mx) * (v - my) for t, v in points) / sxx * 3600


def find_child(pid: int, name: str) -> int:
    """The first descendant of ``pid`` (or itself) whose command is ``name``; 0 if none."""
    try:
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
    except OSError:
        return 0
    children: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            children[int(parts[1])].append((int(parts[0]), parts[2]))
    todo = [pid]
    while todo:
        current = todo.pop()
        for child, comm in children.get(current, []):
            if comm == name:
                return child
            todo.append(child)
    return 0


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
