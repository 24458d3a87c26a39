"""Benchmark plumbing: timing, percentiles, JSON results, where the CPU went, closed-loop load,
the pgbench baseline, the phases a run takes. Benchmarks print; they never assert. Settings:
BENCH_SECONDS (10, a phase), BENCH_PHASES (see `phases_wanted`)."""

from __future__ import annotations

import asyncio
import collections
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import grpc

from tests.support import servers

RESULTS = Path(__file__).resolve().parents[2] / ".bench"
CLIENTS = 16  # the gRPC load's callers, and pgbench's clients
HOT_CLIENTS = 32  # the callers of the phases that contend for one row
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))


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


def cpu_per_call(run: dict) -> dict:
    """CPU milliseconds the replicas and PostgreSQL spent per call: steadier than calls per
    second when other work shares the machine."""
    cores, per_second = run.get("cpu_cores", {}), run.get("per_second")
    return {
        f"{role}_cpu_ms_per_call": round(cores[role] * 1000 / per_second, 3)
        for role in ("replicas", "postgres")
        if per_second and role in cores
    }


def rates(results: dict) -> dict:
    """Each figure's calls per second, by its name in `results` (None where it has none)."""
    return {k: v.get("per_second") for k, v in results.items() if isinstance(v, dict)}


def ratio(a, b) -> float | None:
    """a / b to three places; None when either is missing or zero."""
    return round(a / b, 3) if a and b else None


def phases_wanted(phases: dict, what: str) -> list[str]:
    """The phases BENCH_PHASES names (comma-separated; names not in `phases` ignored), every
    one when it is unset; none, and a line saying so, when it names none of `what`'s."""
    wanted = os.environ.get("BENCH_PHASES")
    chosen = (
        [p.strip() for p in wanted.split(",") if p.strip() in phases] if wanted else list(phases)
    )
    if not chosen:
        print(f"no {what} phase in BENCH_PHASES={wanted} (phases: {', '.join(phases)})")
    return chosen


def results_name(name: str, chosen: list[str], phases: dict) -> str:
    """What `write` calls a run's figures: `name` when every phase ran, else `name.a+b`, so
    that a run of some phases only does not overwrite the figures of a full run."""
    return name if chosen == list(phases) else f"{name}." + "+".join(chosen)


# --- load and the PostgreSQL baseline ------------------------------------------------------
def pgbench_simple_update(seconds: int = 10) -> dict:
    """`pgbench -N` (simple-update) with as many clients as the gRPC load, on the same server."""
    binary = shutil.which("pgbench") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)), None
    )
    if binary is None:
        return {"skipped": "pgbench not found"}
    url = urlsplit(servers.PG_URL)
    env = {
        **os.environ,
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
    }
    if url.password:
        env["PGPASSWORD"] = url.password
    name = f"loyalty_bench_pgbench_{servers.RUN}"
    subprocess.run(
        ["psql", "-q", "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'],
        env=env,
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [binary, "-i", "-q", "-s", "10", name], env=env, check=True, capture_output=True
        )
        out = subprocess.run(
            [binary, "-N", "-c", str(CLIENTS), "-j", "2", "-T", str(seconds), name],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        subprocess.run(
            ["psql", "-q", "-d", "postgres", "-c", f'DROP DATABASE "{name}"'],
            env=env,
            capture_output=True,
        )
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    return {
        "tps": tps,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "clients": CLIENTS,
    }


class Load:
    """Latencies and errors (by status code) of one phase."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: collections.Counter[str] = collections.Counter()

    async def call(self, make_call, n: int, i: int) -> None:
        start = time.perf_counter()
        try:
            await make_call(n, i)
        except grpc.aio.AioRpcError as exc:
            self.errors[exc.code().name] += 1
        self.latencies.append(time.perf_counter() - start)

    def result(self, seconds: float, meter: CpuMeter) -> dict:
        out = summary(self.latencies, seconds)
        out["errors"] = sum(self.errors.values())
        if self.errors:
            out["errors_by_code"] = dict(self.errors)
        out["cpu_cores"] = meter.cores
        if self.latencies:
            # CPU of this process per call: what the load generator itself costs.
            own = meter.cores.get("load_generator", 0) * seconds / len(self.latencies)
            out["load_generator_cpu_ms_per_call"] = round(own * 1000, 3)
        return out


async def closed_loop(make_call, clients: int, seconds: float, meter: CpuMeter) -> dict:
    """As fast as `clients` callers can go for `seconds`."""
    load = Load()
    deadline = time.perf_counter() + seconds

    async def caller(n: int):
        i = 0
        while time.perf_counter() < deadline:
            await load.call(make_call, n, i)
            i += 1

    with Clock() as clock, meter:
        await asyncio.gather(*(caller(n) for n in range(clients)))
    return load.result(clock.seconds, meter)
