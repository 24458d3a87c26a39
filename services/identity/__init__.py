"""Identity: members, login and tokens, real-name verification, linked accounts, status, tags."""
