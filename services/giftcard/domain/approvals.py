"""Approvals as data: bands of amounts, each naming the roles that must approve, and the
four-eyes rules that no one may get round by approving their own work or approving twice.

A band is satisfied by one distinct person per role, none of them the requester. A person
holding several roles still counts once: two approvals from one person are one person's
judgement, whatever role each was given under.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .amounts import MINOR_PER_UNIT
from .refusals import Refusal


class Role(StrEnum):
    """Operator roles (token scopes `giftcard:<role>`)."""

    REQUESTER = "requester"
    APPROVER = "approver"  # 分管副总 and the like
    LOADER = "loader"  # 开户/充值 (maker)
    REVIEWER = "reviewer"  # 复核 (checker)
    SALES = "sales"
    FINANCE = "finance"
    MANAGER = "manager"  # 总经理


@dataclass(frozen=True)
class Band:
    """Amounts up to `up_to_minor` inclusive (None: no upper bound) need every role of
    `roles`, each from a different person."""

    up_to_minor: int | None
    roles: frozenset[Role]


@dataclass(frozen=True)
class ApprovalPolicy:
    """Bands in increasing order of amount; the last has no upper bound, so no amount is left
    without a rule."""

    bands: tuple[Band, ...]


@dataclass(frozen=True)
class Approval:
    approver: str  # operator id (the token's subject)
    role: Role  # the role the approval was given under


@dataclass(frozen=True)
class ApprovalStatus:
    required: frozenset[Role]
    missing: frozenset[Role]

    @property
    def complete(self) -> bool:
        return not self.missing


def policy_problems(policy: ApprovalPolicy) -> list[str]:
    """Why `policy` cannot be used (empty when it can)."""
    problems = []
    if not policy.bands:
        return ["at least one band"]
    for i, band in enumerate(policy.bands):
        if not band.roles:
            problems.append(f"band {i}: at least one role")
        if Role.REQUESTER in band.roles:
            problems.append(f"band {i}: a requester approves nothing")
        if band.up_to_minor is not None and band.up_to_minor < 0:
            problems.append(f"band {i}: the upper bound must not be negative")
        last = i == len(policy.bands) - 1
        if band.up_to_minor is None and not last:
            problems.append(f"band {i}: only the last band is unbounded")
        if band.up_to_minor is not None and last:
            problems.append(f"band {i}: the last band must be unbounded")
    bounds = [b.up_to_minor for b in policy.bands if b.up_to_minor is not None]
    if any(lower >= upper for lower, upper in zip(bounds, bounds[1:], strict=False)):
        problems.append("bands must be in increasing order of amount, without overlap")
    return problems


def band_for(policy: ApprovalPolicy, amount_minor: int) -> Band:
    if amount_minor < 0:
        raise ValueError("an amount to approve is not negative")
    for band in policy.bands:
        if band.up_to_minor is None or amount_minor <= band.up_to_minor:
            return band
    raise ValueError("the policy leaves this amount without a band")


def _refused(reason: str, message: str, **metadata: str) -> Refusal:
    return Refusal(reason, message, metadata=metadata)


def status(
    policy: ApprovalPolicy, amount_minor: int, requester: str, approvals: Sequence[Approval]
) -> ApprovalStatus | Refusal:
    """What the approvals so far leave missing; refused when they break a rule (recorded
    approvals are checked again, so a policy change or a bad row never counts silently)."""
    required = band_for(policy, amount_minor).roles
    seen_people: set[str] = set()
    seen_roles: set[Role] = set()
    for approval in approvals:
        refusal = _problem(required, requester, seen_people, seen_roles, approval)
        if refusal:
            return refusal
        seen_people.add(approval.approver)
        seen_roles.add(approval.role)
    return ApprovalStatus(required, required - seen_roles)


def _problem(
    required: frozenset[Role],
    requester: str,
    people: set[str],
    roles: set[Role],
    approval: Approval,
) -> Refusal | None:
    if approval.approver == requester:
        return _refused("SELF_APPROVAL", "nobody approves their own request")
    if approval.approver in people:
        return _refused(
            "ALREADY_APPROVED", "this person has approved already", approver=approval.approver
        )
    if approval.role not in required:
        return _refused(
            "ROLE_NOT_REQUIRED",
            f"this amount needs {', '.join(sorted(required))}",
            role=approval.role.value,
        )
    if approval.role in roles:
        return _refused(
            "ROLE_ALREADY_APPROVED",
            f"the {approval.role} approval is given already",
            role=approval.role.value,
        )
    return None


def approve(
    policy: ApprovalPolicy,
    amount_minor: int,
    requester: str,
    approvals: Sequence[Approval],
    candidate: Approval,
    candidate_roles: Collection[Role],
) -> ApprovalStatus | Refusal:
    """Adds `candidate` (whose token holds `candidate_roles`) to `approvals`: the status
    after it, or why it is refused (and then nothing is recorded)."""
    so_far = status(policy, amount_minor, requester, approvals)
    if isinstance(so_far, Refusal):
        return so_far
    # Approving one's own request, or a second time, is named first whatever roles the
    # token holds: those are the rules a bypass attempt breaks.
    people = {a.approver for a in approvals}
    if candidate.approver != requester and candidate.approver not in people:
        refusal = role_refusal(candidate_roles, candidate.role)
        if refusal:
            return refusal
    return status(policy, amount_minor, requester, [*approvals, candidate])


def four_eyes(
    maker: str, checker: str, checker_roles: Collection[Role], role: Role
) -> Refusal | None:
    """A check by someone other than who made it, holding the checking role: review after
    load (复核), finance's re-check of a sale."""
    if checker == maker:
        return _refused("MAKER_IS_CHECKER", "the check must be made by someone else")
    if role not in checker_roles:
        return _refused("ROLE_NOT_HELD", f"checking needs the {role} role", role=role.value)
    return None


def review_refusal(loader: str, reviewer: str, reviewer_roles: Collection[Role]) -> Refusal | None:
    return four_eyes(loader, reviewer, reviewer_roles, Role.REVIEWER)


def sale_check_refusal(
    seller: str, checker: str, checker_roles: Collection[Role]
) -> Refusal | None:
    return four_eyes(seller, checker, checker_roles, Role.FINANCE)


def role_refusal(held: Collection[Role], role: Role) -> Refusal | None:
    """An operation that needs `role` (loading needs `loader`, selling `sales`, …)."""
    if role in held:
        return None
    return _refused("ROLE_NOT_HELD", f"this needs the {role} role", role=role.value)


# Defaults (operators change them as data). Up to 50,000.00 CNY one approver; above it an
# approver and a manager (分管副总 and 总经理).
SECOND_APPROVER_ABOVE_MINOR = 50_000 * MINOR_PER_UNIT
REQUISITION_POLICY = ApprovalPolicy(
    (
        Band(SECOND_APPROVER_ABOVE_MINOR, frozenset({Role.APPROVER})),
        Band(None, frozenset({Role.APPROVER, Role.MANAGER})),
    )
)
BATCH_POLICY = REQUISITION_POLICY
# Refunding or exchanging a card (退卡/调换) needs a manager whatever the amount.
AFTER_SALE_POLICY = ApprovalPolicy((Band(None, frozenset({Role.MANAGER})),))
