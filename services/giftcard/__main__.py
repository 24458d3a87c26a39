"""`python -m services.giftcard [serve|migrate|dead-letters|…]` (`--help` lists them)."""

from services.kit.service import main

from .app import GiftcardApp
from .commands import COMMANDS

if __name__ == "__main__":
    main(GiftcardApp, COMMANDS)
