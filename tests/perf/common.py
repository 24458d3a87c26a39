"""Benchmark plumbing: timing, percentiles, JSON results. Benchmarks print; they never assert."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / ".bench"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def summary(latencies: list[float], seconds: float) -> dict:
    return {
        "count": len(latencies),
        "seconds": round(seconds, 3),
        "per_second": round(len(latencies) / seconds, 1) if seconds else 0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else 0,
    }


class Clock:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def write(name: str, results: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"-> {path}")
    return path


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone or unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _machine_busy_seconds() -> float:
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


def pids_named(*names: str) -> list[int]:
    """Processes whose command name is one of `names` (PostgreSQL backends, the broker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """Where the machine's CPU went while a phase ran, in cores (1.0 = one core busy the whole
    time), by role: `roles` maps a name to a function returning its pids at that moment; the
    rest of the machine (other work, the kernel) is `other`. Linux only; empty elsewhere."""

    def __init__(self, roles: dict[str, Callable[[], list[int]]]) -> None:
        self.roles = roles

    def _sample(self) -> dict[str, dict[int, float]]:
        sample = {
            name: {p: _process_seconds(p) for p in pids()} for name, pids in self.roles.items()
        }
        sample["machine"] = {0: _machine_busy_seconds()}
        return sample

    def __enter__(self):
        self.before, self.started = self._sample(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        after, seconds = self._sample(), time.perf_counter() - self.started
        # Per process: one that started meanwhile counts whole, one that ended is not seen.
        used = {
            k: sum(max(0.0, t - self.before[k].get(p, 0.0)) for p, t in after[k].items()) / seconds
            for k in after
        }
        used["other"] = max(0.0, used["machine"] - sum(used[k] for k in self.roles))
        self.cores = {k: round(v, 2) for k, v in used.items()}
        self.cores["available"] = os.cpu_count()
