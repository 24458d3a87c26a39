"""`python -m tools.asyncapi [--check]`: write docs/asyncapi.yaml, or check that it is current."""

from __future__ import annotations

import argparse
import sys

import tools.asyncapi
from tools.asyncapi.output import OUTPUT, diff, render
from tools.asyncapi.protos import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.asyncapi", description=tools.asyncapi.__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the document on disk is not current"
    )
    args = parser.parse_args(argv)
    name = OUTPUT.relative_to(ROOT)
    if args.check:
        stale = diff()
        if stale:
            sys.stderr.write(stale)
            print(f"{name} is stale: run `make asyncapi`", file=sys.stderr)
            return 1
        print(f"{name} is current")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
