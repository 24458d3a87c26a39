"""Money amounts: integer minor units (fen), positive, bounded."""

from __future__ import annotations

from .refusals import FieldProblem

MINOR_PER_UNIT = 100  # fen per CNY
# One load, hold, refund or top-up: 10 billion CNY. Sums of a day's operations stay far
# from a bigint (2^63 − 1) however many there are.
MAX_AMOUNT_MINOR = 10**12


def amount_problem(amount: int, field: str = "amount_minor") -> FieldProblem | None:
    """Zero and negative amounts move nothing (a negative one would move money backwards
    past every check written for the forward direction), so both are refused."""
    if amount <= 0:
        return FieldProblem(
            field, "must be a positive amount in minor units", "AMOUNT_NOT_POSITIVE"
        )
    if amount > MAX_AMOUNT_MINOR:
        return FieldProblem(field, f"must be at most {MAX_AMOUNT_MINOR}", "AMOUNT_TOO_LARGE")
    return None
