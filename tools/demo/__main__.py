"""`python -m tools.demo` (`make demo`, through tools/demo/demo.sh, which sets the environment
`make run` sets): starts the services as `make run` does, seeds the demo's data set through
their public interfaces, prints what the API reports and a tour, then keeps the services running
for the tour until Ctrl-C (DEMO_STAY=0: stops at once; the default stays only on a terminal).

    DEMO_MEMBERS  members (default 2000, at most 10000)
    DEMO_SEED     the data set (default 1; 0 to 999): another seed, other members beside these

A second run (the same seed) replays every mutation under the same ids: the API reports the same
before and after it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from . import services
from .play import play


def _settings() -> tuple[int, int, bool]:
    try:
        count, seed = (
            int(os.environ.get("DEMO_MEMBERS", "2000")),
            int(os.environ.get("DEMO_SEED", "1")),
        )
    except ValueError:
        raise SystemExit("DEMO_MEMBERS and DEMO_SEED are whole numbers") from None
    if not 0 <= seed <= 999:
        raise SystemExit("DEMO_SEED is 0 to 999")
    stay = os.environ.get("DEMO_STAY", "1" if sys.stdin.isatty() else "0") != "0"
    return count, seed, stay


async def _until_interrupted() -> None:
    print(
        "\nThe services keep running for the tour (make run's ports and data; logs: "
        f"{services.STATE / 'services.log'}). Ctrl-C stops them.",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping the services …", flush=True)


async def _main(count: int, seed: int, stay: bool) -> None:
    try:
        loaded = services.settings()
    except ValueError as exc:  # a required key missing: not the services' environment
        raise SystemExit(f"{exc}\n\nmake demo runs this with the services' environment") from None
    busy = services.serving(loaded)
    if busy:
        raise SystemExit(
            f"make demo: something serves on the services' ports already ({', '.join(busy)}): "
            "`make run`? make demo starts the services itself (its payment provider declines "
            "some renewals), on the same ports and data: stop the other (Ctrl-C in its "
            "terminal) and run make demo again; `make run` serves the demo's data afterwards."
        )
    print(f"make demo: {count:,} members (DEMO_MEMBERS), seed {seed} (DEMO_SEED)", flush=True)
    log = services.STATE / "services.log"
    print(f"  the services, as make run starts them (logs: {log}) …", flush=True)
    async with services.Running(loaded, log) as running:
        await play(
            running.target(),
            seed,
            count,
            say=lambda text: print(text, flush=True),
            keep=_until_interrupted if stay else None,
        )


def main() -> None:
    count, seed, stay = _settings()
    try:
        asyncio.run(_main(count, seed, stay))
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
