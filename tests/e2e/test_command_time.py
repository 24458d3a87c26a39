"""`<SVC>_DEV_COMMAND_TIME` (kit.clock.command_time), what the storefront's day moves time with:
development only, so a serving process refuses to start with it, and a command refuses an
instant it cannot read unambiguously. (That a command acts at the instant, the day shows.)"""

from __future__ import annotations

import asyncio
import os
import sys

from tools.suite.processes import ROOT


async def _growth(*args: str, at: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.growth",
        *args,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "GROWTH_DEV_COMMAND_TIME": at},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, err.decode()


async def test_serving_refuses_a_command_time_and_a_command_an_instant_without_its_offset():
    (served, serve_err), (ran, run_err) = await asyncio.gather(
        _growth("serve", at="2026-08-01T00:10:00+08:00"),
        _growth("settle", at="2026-08-01T00:10:00"),
    )
    assert served == 1
    assert serve_err.strip() == (
        "GROWTH_DEV_COMMAND_TIME is for operator commands in development: serve refuses it"
    )
    assert ran == 1
    assert "GROWTH_DEV_COMMAND_TIME '2026-08-01T00:10:00' is no ISO 8601 instant" in run_err
