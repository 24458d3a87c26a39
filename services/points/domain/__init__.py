"""Pure points rules: no I/O, no asyncio; everything here is decided from plain values."""
