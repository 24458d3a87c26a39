"""Plans: version 1 at creation, a new version at every update (a version never changes)."""

from __future__ import annotations

import dataclasses

from services.kit import errors

from ..deps import SubscriptionDeps
from ..domain import plans as rules
from ..store import plans as store
from ..store.plans import PlanRow

# What UpdatePlan may change; the rest of a version is copied from the latest one.
MUTABLE = (
    "display_name",
    "description",
    "price",
    "trial_days",
    "points_multiplier",
    "member_discount_bps",
    "benefits",
    "on_sale",
)
# Where the domain's field names are in the proto Plan.
FIELD_PATHS = {
    "code": "plan.plan_id",
    "version": "plan.version",
    "price_minor": "plan.price.amount_minor",
    "currency": "plan.price.currency_code",
    "points_multiplier": "plan.points_multiplier",
    "member_discount_bp": "plan.member_discount_bps",
    "kind": "plan.kind",
}


def field_path(name: str, trial: bool) -> str:
    if name == "period":
        return "plan.trial_days" if trial else "plan.kind"
    if name.startswith("benefits"):
        path = f"plan.{name}"
        return path.replace(".value_minor", ".value.amount_minor")
    return FIELD_PATHS.get(name, f"plan.{name}")


def raise_problems(
    problems,
    trial: bool,
    *,
    currency_path: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    """INVALID_ARGUMENT naming every field the rules refuse, and `extra` (the reason of the
    first problem with a reason of its own, e.g. TRIAL_NOT_FREE)."""
    if not problems and not extra:
        return
    violations = list(extra or [])
    for p in problems:
        path = field_path(p.field, trial)
        if currency_path and p.reason == "PLAN_CURRENCY_CHANGED":
            path = currency_path
        violations.append((path, p.description))
    reason = next((p.reason for p in problems if p.reason != "INVALID_ARGUMENT"), None)
    raise errors.invalid(violations, reason or "INVALID_ARGUMENT")


class Plans:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps

    async def create(self, conn, row: PlanRow) -> PlanRow:
        try:
            return await store.insert(conn, row)
        except store.PlanVersionTaken:
            raise errors.already_exists(
                "PLAN_ALREADY_EXISTS", f"plan {row.plan_id} exists"
            ) from None

    async def update(
        self,
        conn,
        plan_id: str,
        version: int,
        changes: dict,
        benefit_currencies: frozenset[str] = frozenset(),
    ) -> tuple[PlanRow, PlanRow]:
        """The new version: the latest with `changes` (validated here, against the latest);
        returns the latest before and the new version."""
        latest = await store.lock_latest(conn, plan_id)
        if latest is None:
            raise errors.not_found("plan", plan_id)
        new = dataclasses.replace(
            latest,
            version=version,
            create_time=self.deps.now(),
            **changes,
        )
        trial = new.kind == rules.PlanKind.TRIAL.value
        extra = []
        if not trial and new.trial_days != 0:
            extra.append(("plan.trial_days", "0 for a paid plan"))
        if benefit_currencies - {new.currency_code}:
            extra.append(("plan.benefits", "benefit values are in the plan's currency"))
        raise_problems(
            rules.version_problems(latest.rules, new.rules) + rules.plan_problems(new.rules),
            trial,
            currency_path="plan.price",
            extra=extra,
        )
        try:
            return latest, await store.insert(conn, new)
        except store.PlanVersionTaken:
            raise errors.invalid(
                [("plan.version", f"the next version is {latest.version + 2}")],
                "PLAN_VERSION_CONFLICT",
            ) from None

    async def get(self, conn, plan_id: str, version: int | None) -> PlanRow:
        row = await store.get(conn, plan_id, version)
        if row is not None:
            return row
        if version is not None and await store.exists(conn, plan_id):
            raise errors.AppError(
                errors.not_found("plan").code,
                "PLAN_VERSION_NOT_FOUND",
                f"plan {plan_id} has no version {version}",
            )
        raise errors.not_found("plan", plan_id)

    async def latest(
        self, conn, *, after: tuple[int, str] | None, limit: int, on_sale_only: bool, kind
    ) -> list[PlanRow]:
        return await store.latest(
            conn, after=after, limit=limit, on_sale_only=on_sale_only, kind=kind
        )
