"""Pure growth rules (京享值): no I/O, no asyncio, no clock; everything is decided from plain values."""
