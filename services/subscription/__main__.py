"""`python -m services.subscription [serve|migrate|dead-letters|…]` (`--help` lists them)."""

from services.kit.service import main

from .app import SubscriptionApp
from .commands import COMMANDS

if __name__ == "__main__":
    main(SubscriptionApp, COMMANDS)
