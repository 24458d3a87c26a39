"""Identity rules: pure functions, no I/O."""
