"""`make bench`: every benchmark in one run; figures printed and written to .bench/*.json."""

import asyncio
import importlib
import sys

from services.kit import logging

BENCHES = [
    "tests.perf.identity_bench",
    "tests.perf.points_bench",
    "tests.perf.giftcard_bench",
    "tests.perf.subscription_claims_bench",
    "tests.perf.subscription_renewal_bench",
    "tests.perf.growth_bench",
]

if __name__ == "__main__":
    logging.configure("bench", "WARNING")
    chosen = sys.argv[1:] or BENCHES
    for name in chosen:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"skipping {name}: {exc}")
            continue
        print(f"== {name}")
        asyncio.run(module.main())
