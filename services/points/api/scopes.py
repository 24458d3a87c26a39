"""The scopes of the points API (members act on themselves without one)."""

READ = "points:read"
GRANT = "points:grant"
SPEND = "points:spend"
ADJUST = "points:adjust"
ADMIN = "points:admin"
