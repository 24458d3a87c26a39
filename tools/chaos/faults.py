"""The faults, on a schedule drawn from the run's seed: a service process killed (-9) or stopped
(SIGTERM) and started again at once, the broker restarted, PostgreSQL restarted (stopped as a
crash would stop it). One at a time, spread over the load; every kind at least once."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass

from .suite import APPS, PAYMENTS, Suite

KILL, TERM, BROKER, POSTGRES = "kill -9", "SIGTERM", "restart broker", "restart PostgreSQL"
# How a deck of faults is dealt after one of each kind: a process more often than a server
# (there are six processes), each server often enough to come back more than once.
WEIGHTS = {KILL: 2, TERM: 2, BROKER: 1, POSTGRES: 1}
OUTAGE_SECONDS = (1.0, 4.0)  # how long a server stays down


@dataclass
class Fault:
    at: float  # seconds into the load
    kind: str
    target: str = ""  # the process, for KILL and TERM
    took: float = 0.0  # from the fault to everything serving again
    note: str = ""  # what went wrong with the fault itself (a process that would not stop…)


def schedule(rng: random.Random, seconds: float) -> list[Fault]:
    """About one fault every 15 s, the first after 10 s, none in the last 10 s."""
    count = max(4, int(seconds // 15))
    kinds = [KILL, TERM, BROKER, POSTGRES]
    kinds += rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=count - len(kinds))
    rng.shuffle(kinds)
    span = max(seconds - 20, 1.0)
    faults = []
    for i, kind in enumerate(kinds):
        at = 10 + span * (i + rng.uniform(0.2, 0.8)) / len(kinds)
        target = ""
        if kind == KILL:
            target = rng.choice([*APPS, PAYMENTS])
        elif kind == TERM:
            target = rng.choice(list(APPS))
        faults.append(Fault(round(at, 1), kind, target))
    return faults


async def inflict(suite: Suite, faults: list[Fault], rng: random.Random, began: float) -> None:
    """Each fault at its time; waits for what it stopped to serve again before the next."""
    for fault in faults:
        await asyncio.sleep(max(0.0, began + fault.at - time.monotonic()))
        started = time.monotonic()
        print(
            f"chaos   {fault.at:6.1f} s into the load: {fault.kind} {fault.target}".rstrip(),
            flush=True,
        )
        try:
            await _one(suite, fault, rng)
        except Exception as exc:  # a fault that could not be undone is a finding, not a crash
            fault.note = f"{type(exc).__name__}: {exc}"[:300]
        fault.took = time.monotonic() - started


async def _one(suite: Suite, fault: Fault, rng: random.Random) -> None:
    if fault.kind in (KILL, TERM):
        sig = signal.SIGKILL if fault.kind == KILL else signal.SIGTERM
        seconds, code = await suite.kill(fault.target, sig)
        if fault.kind == TERM and code != 0:
            fault.note = (
                "did not stop within 60 s of SIGTERM (killed)"
                if code is None
                else f"exit code {code} after SIGTERM ({seconds:.1f} s)"
            )
        await suite.launch(fault.target)
    elif fault.kind == BROKER:
        await suite.servers.restart_broker(rng.uniform(*OUTAGE_SECONDS))
    elif fault.kind == POSTGRES:
        await suite.servers.restart_postgres(rng.uniform(*OUTAGE_SECONDS))
