"""The membership suite's services."""
