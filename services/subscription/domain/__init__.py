"""Pure subscription rules: no I/O, no asyncio, no clock; everything is decided from plain values."""
