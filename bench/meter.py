"""What the benchmarks read from the machine (/proc and git): its description, the code
measured, CPU time and resident memory of the processes under test.

The machine is shared: CPU the processes of interest did not use is reported as ``others``,
so a busy neighbour shows instead of passing for our cost.
"""
from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PRODUCT_DIRS = ("bot", "handlers", "storage")
_TICK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    meminfo, cpuinfo = _read("/proc/meminfo"), _read("/proc/cpuinfo")

    def gib(name: str) -> float | None:
        found = re.search(rf"{name}:\s+(\d+) kB", meminfo)
        return round(int(found.group(1)) / 1024 / 1024, 1) if found else None

    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cores": os.cpu_count(),
        "cpu": model.group(1).strip() if model else platform.processor() or "unknown",
        "memory_gib": gib("MemTotal"), "memory_available_gib": gib("MemAvailable"), "loadavg": loadavg(),
        "kernel": platform.release(), "python": platform.python_version(), **_revision(),
    }


def loadavg() -> list[str]:
    return _read("/proc/loadavg").split()[:3]


def _revision() -> dict[str, Any]:
    """The commit measured, and whether the product's files differed from it (read-only git calls)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10,
                                  check=False).stdout.rstrip("\n")
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if line[3:].startswith(tuple(f"{d}/" for d in PRODUCT_DIRS) + ("pyproject.toml",))]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "uncommitted": changed,
            "product_digest": product_digest()}


def product_digest() -> str:
    """A short hash of the product's files as they are now: others edit them while benchmarks run,
    and a serve started later runs whatever is on disk then."""
    digest = hashlib.sha1()
    for directory in PRODUCT_DIRS:
        for path in sorted((REPO / directory).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".ini", ".mako", ".toml"):
                digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


def filesystem(path: Path) -> str:
    best, kind = "", "unknown filesystem"
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3 and str(path.resolve()).startswith(parts[1]) and len(parts[1]) >= len(best):
            best, kind = parts[1], parts[2]
    return kind


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on: utime is index 11, the parent index 1."""
    text = _read(f"/proc/{pid}/stat")
    return text[text.rindex(")") + 2:].split() if text else None


def cpu_seconds(pid: int | None, *, children: bool = False) -> float:
    """CPU time of a process (with ``children``, plus its live and reaped descendants')."""
    fields = _stat(pid) if pid is not None else None
    if fields is None:
        return 0.0
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
        total += sum(int(f[11]) + int(f[12]) for f in map(_stat, descendants(pid)) if f is not None)
    return total / _TICK


def descendants(root: int) -> list[int]:
    parents = {int(entry): int(fields[1]) for entry in os.listdir("/proc")
               if entry.isdigit() and (fields := _stat(int(entry))) is not None}
    found, frontier = [], {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found.extend(frontier)
    return found


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot, minus idle and iowait."""
    values = [int(v) for v in _read("/proc/stat").split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / _TICK if len(values) >= 5 else 0.0


class Cpu:
    """CPU seconds the named processes used between start() and stop(), with ``bench_client``
    (this process: the load generator) and ``others`` (whatever else kept the cores busy)."""

    def __init__(self, pids: dict[str, tuple[int | None, bool]]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        values = {name: cpu_seconds(pid, children=children) for name, (pid, children) in self.pids.items()}
        return values | {"bench_client": cpu_seconds(os.getpid()), "machine": _machine_busy()}

    def start(self) -> Cpu:
        self._start = self._now()
        return self

    def stop(self) -> dict[str, float]:
        used = {name: round(value - self._start.get(name, 0.0), 2) for name, value in self._now().items()}
        busy = used.pop("machine")
        return used | {"others": round(max(0.0, busy - sum(used.values())), 2)}


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants (`serve` forks its background process)."""
    total = 0
    for one in [pid, *descendants(pid)]:
        found = re.search(r"VmRSS:\s+(\d+) kB", _read(f"/proc/{one}/status"))
        total += int(found.group(1)) if found else 0
    return total / 1024
