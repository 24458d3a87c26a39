"""Earning rules as data: kinds, caps, sign-in streaks, purchase rebates, validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field

from .refusals import FieldProblem, Refusal
from .spending import MINOR_PER_UNIT

PURCHASE_REBATE = "purchase_rebate"
SIGN_IN = "sign_in"
SHOP_VISIT = "shop_visit"
REVIEW = "review"
TASK = "task"
SIGN_UP_BONUS = "sign_up_bonus"
REFERRAL_BONUS = "referral_bonus"
TIER_UPGRADE = "tier_upgrade"
MERCHANT_GRANT = "merchant_grant"
OPERATOR_ADJUST = "operator_adjust"
KINDS = (
    PURCHASE_REBATE,
    SIGN_IN,
    SHOP_VISIT,
    REVIEW,
    TASK,
    SIGN_UP_BONUS,
    REFERRAL_BONUS,
    TIER_UPGRADE,
    MERCHANT_GRANT,
    OPERATOR_ADJUST,
)
# Kinds credited by their own path, never through Grant: rebates come from order events,
# sign-ins from SignIn, adjustments from Adjust.
NOT_GRANTABLE = frozenset({PURCHASE_REBATE, SIGN_IN, OPERATOR_ADJUST})

# The rule codes the service itself credits under (seeded by the migration).
CODE_PURCHASE_REBATE = "purchase_rebate"
CODE_SIGN_IN = "sign_in"
CODE_REVIEW = "review"
CODE_REVIEW_PHOTO = "review_photo"
CODE_SIGN_UP_BONUS = "sign_up_bonus"
CODE_REFERRAL_BONUS = "referral_bonus"
CODE_TIER_UPGRADE = "tier_upgrade"  # growth's upgrade gift packs
CODE_OPERATOR_ADJUST = "operator_adjust"

RULE_CODE = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
MAX_POINTS = 10**9  # one credit, cap or bonus; keeps sums far from bigint overflow
MAX_STREAK_BONUSES = 31


@dataclass(frozen=True)
class StreakBonus:
    day: int
    bonus: int


@dataclass(frozen=True)
class EarningRule:
    rule_code: str
    kind: str
    version: int = 1
    points: int = 0
    daily_cap: int = 0
    period_cap: int = 0
    period_days: int = 0
    streak_bonus: tuple[StreakBonus, ...] = field(default_factory=tuple)
    merchant_funded: bool = False
    enabled: bool = True
    effective_at: dt.datetime | None = None


DAILY_CAP, PERIOD_CAP = "daily", "period"


def cap_room(rule: EarningRule, earned_today: int, earned_in_period: int) -> tuple[int | None, str]:
    """Points the rule's caps still allow (None: no cap) and which cap is the tighter one."""
    room: int | None = None
    which = ""
    if rule.daily_cap:
        room, which = max(0, rule.daily_cap - earned_today), DAILY_CAP
    if rule.period_cap and rule.period_days:
        left = max(0, rule.period_cap - earned_in_period)
        if room is None or left < room:
            room, which = left, PERIOD_CAP
    return room, which


def disabled(rule: EarningRule) -> Refusal | None:
    if rule.enabled:
        return None
    return Refusal("RULE_DISABLED", f"rule {rule.rule_code} is disabled")


def within_caps(
    rule: EarningRule, amount: int, room: int | None, which: str, *, clamp: bool
) -> int | Refusal:
    """What the member may earn of `amount` with `room` left under the tighter cap (`which`):
    all of it when it fits; else, with `clamp` (credits from events), what is left, if any."""
    if room is None or room >= amount:
        return amount
    if clamp and room > 0:
        return room
    return Refusal(
        "DAILY_CAP_REACHED" if which == DAILY_CAP else "PERIOD_CAP_REACHED",
        f"the {which} cap of {rule.rule_code} is reached",
        metadata={"remaining": str(room)},
        quota=True,
    )


def period_start(rule: EarningRule, today: dt.date) -> dt.date:
    """First business day of the rolling period that ends today."""
    return today - dt.timedelta(days=max(rule.period_days, 1) - 1)


def next_streak(last_day: dt.date | None, streak: int, today: dt.date) -> int | None:
    """The streak after signing in today; None when the member signed in today already."""
    if last_day == today:
        return None
    if last_day == today - dt.timedelta(days=1):
        return streak + 1
    return 1


def sign_in_points(rule: EarningRule, streak: int) -> int:
    """The rule's points plus the bonus for this day of the streak."""
    return rule.points + sum(b.bonus for b in rule.streak_bonus if b.day == streak)


def rebate_points(rule: EarningRule, paid_minor: int, multiplier: int) -> int:
    """`points` per whole currency unit actually paid, times the member's multiplier, at most
    MAX_POINTS (one credit), whatever the amount, rule and multiplier."""
    if paid_minor <= 0:
        return 0
    return min(MAX_POINTS, (paid_minor // MINOR_PER_UNIT) * rule.points * max(multiplier, 1))


def grant_amount(rule: EarningRule, requested: int | None) -> tuple[int | None, str | None]:
    """(points to grant, problem with the `points` field) for a Grant under `rule`."""
    if rule.points:
        if requested is not None and requested != rule.points:
            return None, f"this rule grants exactly {rule.points} points; leave points unset"
        return rule.points, None
    if requested is None:
        return None, "required for this rule"
    if requested <= 0:
        return None, "must be positive"
    if requested > MAX_POINTS:
        return None, f"at most {MAX_POINTS}"
    return requested, None


def grant(rule: EarningRule, requested: int | None, merchant_id: str) -> int | FieldProblem:
    """The points a Grant under `rule` credits, or what is wrong with the request."""
    if rule.kind in NOT_GRANTABLE:
        return FieldProblem(
            "rule_code", f"{rule.kind} rules are not credited through Grant", "RULE_NOT_GRANTABLE"
        )
    amount, problem = grant_amount(rule, requested)
    if problem:
        return FieldProblem("points", problem)
    assert amount is not None  # grant_amount gives the points or a problem
    if rule.merchant_funded and not merchant_id:
        return FieldProblem("merchant_id", "required: the rule is merchant-funded")
    return amount


def next_version(
    latest: EarningRule | None, proposed: EarningRule, now: dt.datetime
) -> EarningRule | Refusal:
    """The version `proposed` becomes after `latest` (the newest, effective or not): numbered
    after it, effective now unless it says when. A rule code keeps its kind."""
    if latest is not None and latest.kind != proposed.kind:
        return Refusal("RULE_KIND_CHANGED", f"rule {proposed.rule_code} is a {latest.kind} rule")
    return dataclasses.replace(
        proposed,
        version=(latest.version if latest else 0) + 1,
        effective_at=proposed.effective_at or now,
    )


def problems(rule: EarningRule) -> list[tuple[str, str]]:
    """Field violations of a rule version (paths under `rule.`)."""
    found: list[tuple[str, str]] = []

    def check(ok: bool, path: str, text: str) -> None:
        if not ok:
            found.append((f"rule.{path}", text))

    check(bool(RULE_CODE.match(rule.rule_code)), "rule_code", "2-64 of a-z 0-9 _ . - (a-z first)")
    check(rule.kind in KINDS, "kind", "required")
    for name in ("points", "daily_cap", "period_cap"):
        value = getattr(rule, name)
        check(0 <= value <= MAX_POINTS, name, f"0 to {MAX_POINTS}")
    check(0 <= rule.period_days <= 3660, "period_days", "0 to 3660")
    check(
        not rule.period_cap or rule.period_days > 0,
        "period_days",
        "required (positive) when period_cap is set",
    )
    check(
        rule.kind == SIGN_IN or not rule.streak_bonus,
        "streak_bonus",
        "only SIGN_IN rules have streak bonuses",
    )
    check(len(rule.streak_bonus) <= MAX_STREAK_BONUSES, "streak_bonus", "at most 31 bonuses")
    days = [b.day for b in rule.streak_bonus]
    check(len(days) == len(set(days)), "streak_bonus", "one bonus per day")
    for i, b in enumerate(rule.streak_bonus):
        check(0 < b.day <= 366, f"streak_bonus[{i}].day", "1 to 366")
        check(0 < b.bonus <= MAX_POINTS, f"streak_bonus[{i}].bonus", f"1 to {MAX_POINTS}")
    check(
        rule.kind != MERCHANT_GRANT or rule.merchant_funded,
        "merchant_funded",
        "MERCHANT_GRANT rules are merchant-funded",
    )
    check(
        not rule.merchant_funded
        or rule.kind not in NOT_GRANTABLE | {SIGN_UP_BONUS, REFERRAL_BONUS},
        "merchant_funded",
        "only granted rules can be merchant-funded",
    )
    check(
        rule.kind not in (SIGN_IN, SIGN_UP_BONUS, REFERRAL_BONUS, PURCHASE_REBATE)
        or rule.points > 0,
        "points",
        "must be positive for this kind",
    )
    return found
