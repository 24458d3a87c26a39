"""`python -m services.growth [serve|migrate|dead-letters|…]` (`--help` lists them)."""

from services.kit.service import main

from .app import GrowthApp
from .commands import COMMANDS

if __name__ == "__main__":
    main(GrowthApp, COMMANDS)
