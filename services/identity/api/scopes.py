"""The scopes identity's RPCs ask operators and services for."""

READ, WRITE, ADMIN = "identity:read", "identity:write", "identity:admin"
