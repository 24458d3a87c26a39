"""Identity's use cases: one transaction each (the caller's, for idempotent RPCs), by concern."""
