"""Curves: how an input (fen spent, orders, categories, an assessment) becomes score points.

A curve is piecewise linear through points (x0=0, y0), (x1, y1), … with x strictly rising and y
never falling; beyond the last point it stays flat (the curve's own cap). Between two points

    f(x) = y_i + ⌊(x − x_i) × (y_{i+1} − y_i) / (x_{i+1} − x_i)⌋        for x_i ≤ x ≤ x_{i+1}

and f(x) = f(0) = y_0 for x ≤ 0. Integer arithmetic only, with every operand non-negative, so
the floor is SQL's integer division too and a settlement in SQL gives the Python figure to the
point. The floor keeps f non-decreasing, and f(x_i) = y_i exactly at every point.

*Diminishing returns* is a curve whose slopes never rise (concave): the 1,000th CNY spent is
worth no more than the first. Consumption and activity curves must be concave (rules.py checks);
risk curves need not be (a spotless record can be worth more per step than a middling one).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from services.kit.refusals import FieldProblem

MAX_POINTS = 100  # points per curve
MAX_X = 10**15


@dataclass(frozen=True)
class Curve:
    points: tuple[tuple[int, int], ...]

    @property
    def top(self) -> int:
        """The most the curve gives."""
        return self.points[-1][1]

    @property
    def last_x(self) -> int:
        return self.points[-1][0]

    def __call__(self, x: int) -> int:
        if x <= 0:
            return self.points[0][1]
        for (x0, y0), (x1, y1) in zip(self.points, self.points[1:], strict=False):
            if x <= x1:
                return y0 + (x - x0) * (y1 - y0) // (x1 - x0)
        return self.top

    def smallest_x(self, target: int) -> int | None:
        """The least x ≥ 0 with f(x) ≥ target; None when the curve never gets there."""
        if self.points[0][1] >= target:
            return 0
        for (x0, y0), (x1, y1) in zip(self.points, self.points[1:], strict=False):
            if y1 >= target:
                # (x − x0)(y1 − y0) ≥ (target − y0)(x1 − x0), the least such x
                need = (target - y0) * (x1 - x0)
                return x0 + -(-need // (y1 - y0))
        return None

    @property
    def concave(self) -> bool:
        slopes = [
            Fraction(y1 - y0, x1 - x0)
            for (x0, y0), (x1, y1) in zip(self.points, self.points[1:], strict=False)
        ]
        return all(a >= b for a, b in zip(slopes, slopes[1:], strict=False))


def curve(*points: tuple[int, int]) -> Curve:
    return Curve(tuple(points))


def curve_problems(c: Curve, path: str, *, concave: bool) -> list[FieldProblem]:
    """What is wrong with `c`, fields under `path` ("consumption.spend")."""
    points = c.points
    if not points:
        return [FieldProblem(f"{path}.points", "at least one point, (0, y)")]
    if len(points) > MAX_POINTS:
        return [FieldProblem(f"{path}.points", f"at most {MAX_POINTS}")]
    problems = []
    if points[0][0] != 0:
        problems.append(FieldProblem(f"{path}.points[0].x", "the first point is at x = 0"))
    for i, (x, y) in enumerate(points):
        if not 0 <= x <= MAX_X:
            problems.append(FieldProblem(f"{path}.points[{i}].x", f"0 to {MAX_X}"))
        if y < 0:
            problems.append(FieldProblem(f"{path}.points[{i}].y", "not negative"))
        if i and x <= points[i - 1][0]:
            problems.append(
                FieldProblem(f"{path}.points[{i}].x", "rises from point to point", "UNSORTED")
            )
        if i and y < points[i - 1][1]:
            problems.append(
                FieldProblem(f"{path}.points[{i}].y", "never falls (more never scores less)")
            )
    if not problems and concave and not c.concave:
        problems.append(
            FieldProblem(
                f"{path}.points",
                "slopes never rise (diminishing returns)",
                "NOT_DIMINISHING",
            )
        )
    return problems
