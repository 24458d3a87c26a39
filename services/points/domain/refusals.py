"""How the domain says no (the kit's refusals; the use cases turn them into errors)."""

from services.kit.refusals import FieldProblem, Refusal

__all__ = ["FieldProblem", "Refusal"]
