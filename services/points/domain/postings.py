"""Double-entry postings: each business transaction is a list of postings summing to zero.

Accounts are (account, owner) pairs. A member's buckets are `available`, `pending`, `held` and
`debt` owned by the member id. Debt is a receivable (the member owes points), so its postings
are negative when the debt grows; the member's displayed debt is minus the account's sum.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from services.kit import postings

# Accounts. The member's buckets are named for the account (MEMBER_HELD), never for a state:
# a hold's state "held" is holds.HoldState.HELD.
MEMBER_AVAILABLE = "member_available"
MEMBER_PENDING = "member_pending"
MEMBER_HELD = "member_held"
MEMBER_DEBT = "member_debt"
ISSUANCE = "issuance"  # owner: the rule (campaign) that issued the points
MERCHANT_BUDGET = "merchant_budget"  # owner: merchant id; never negative
MERCHANT_FUNDING = "merchant_funding"  # owner: merchant id; points the merchant bought
REDEMPTION = "redemption"
EXPIRY = "expiry"
ADJUSTMENT = "operator_adjustment"
MEMBER_ACCOUNTS = (MEMBER_AVAILABLE, MEMBER_PENDING, MEMBER_HELD, MEMBER_DEBT)
BUCKETS = {
    MEMBER_AVAILABLE: "available",
    MEMBER_PENDING: "pending",
    MEMBER_HELD: "held",
    MEMBER_DEBT: "debt",
}
# An account's owner: the member's id (their buckets), a rule code, a merchant id, or "".
Owner = uuid.UUID | str

# Entry kinds (LedgerEntryKind without its prefix, lower case).
CREDIT = "credit"
DEBIT = "debit"
HOLD = "hold"
HOLD_RELEASE = "hold_release"
HOLD_CAPTURE = "hold_capture"
EXPIRE = "expire"
PENDING_CREDIT = "pending_credit"
PENDING_CONFIRM = "pending_confirm"
PENDING_CANCEL = "pending_cancel"
CLAWBACK = "clawback"
DEBT_ENTRY = "debt"
DEBT_REPAY = "debt_repay"
ADJUST = "adjust"
REFUND_RETURN = "refund_return"
TOP_UP = "top_up"  # merchant budget top-up: no member bucket involved


@dataclass(frozen=True)
class Posting(postings.Posting):
    """A kit posting, read as points: a member's bucket, and its change as the member sees it."""

    @property
    def is_member_bucket(self) -> bool:
        return self.account in MEMBER_ACCOUNTS

    @property
    def displayed_amount(self) -> int:
        """The change of the bucket as the member sees it (debt grows positive)."""
        return -self.amount if self.account == MEMBER_DEBT else self.amount


@dataclass(frozen=True)
class Buckets:
    """A member's balance. Every bucket is non-negative."""

    available: int = 0
    pending: int = 0
    held: int = 0
    debt: int = 0

    def is_valid(self) -> bool:
        return min(self.available, self.pending, self.held, self.debt) >= 0

    def __add__(self, other: Buckets) -> Buckets:
        return Buckets(
            self.available + other.available,
            self.pending + other.pending,
            self.held + other.held,
            self.debt + other.debt,
        )


@dataclass
class Transaction:
    """One balanced journal transaction and what it is about."""

    kind: str
    member_id: uuid.UUID | None = None  # None: no member's buckets change (a merchant top-up)
    postings: list[Posting] = field(default_factory=list)
    rule_code: str = ""
    rule_version: int | None = None
    reference: str = ""
    reason: str = ""
    earned: int = 0  # points counted against the rule's caps
    dedupe_key: str | None = None

    def add(self, account: str, owner: Owner, amount: int, kind: str) -> None:
        if amount:
            # The journal keeps owners as text (a member id beside rule codes and merchants).
            self.postings.append(Posting(account, str(owner), amount, kind))

    def is_balanced(self) -> bool:
        return bool(self.postings) and sum(p.amount for p in self.postings) == 0

    def bucket_deltas(self) -> Buckets:
        """How the member's buckets change (displayed signs)."""
        deltas = {name: 0 for name in BUCKETS.values()}
        for p in self.postings:
            if p.is_member_bucket:
                deltas[BUCKETS[p.account]] += p.displayed_amount
        return Buckets(**deltas)

    def account_delta(self, account: str, owner: str) -> int:
        return sum(p.amount for p in self.postings if p.account == account and p.owner == owner)


def _require_positive(amount: int) -> None:
    if amount <= 0:
        raise ValueError("amount must be positive")


def credit(
    txn: Transaction,
    member: Owner,
    amount: int,
    source: tuple[str, str],
    owed: int,
    kind: str = CREDIT,
) -> int:
    """Credit `amount` to available from `source`; debt is repaid first. Returns the repayment."""
    _require_positive(amount)
    repaid = min(amount, owed)
    txn.add(*source, -amount, kind)
    txn.add(MEMBER_AVAILABLE, member, amount, kind)
    repay(txn, member, repaid)
    return repaid


def repay(txn: Transaction, member: Owner, amount: int) -> None:
    """Available points repay debt."""
    txn.add(MEMBER_AVAILABLE, member, -amount, DEBT_REPAY)
    txn.add(MEMBER_DEBT, member, amount, DEBT_REPAY)


def pending_credit(txn: Transaction, member: Owner, amount: int, source: tuple[str, str]) -> None:
    _require_positive(amount)
    txn.add(*source, -amount, PENDING_CREDIT)
    txn.add(MEMBER_PENDING, member, amount, PENDING_CREDIT)


def confirm_pending(txn: Transaction, member: Owner, amount: int, owed: int) -> int:
    """Pending rebate becomes available; debt is repaid first. Returns the repayment."""
    _require_positive(amount)
    txn.add(MEMBER_PENDING, member, -amount, PENDING_CONFIRM)
    txn.add(MEMBER_AVAILABLE, member, amount, PENDING_CONFIRM)
    repaid = min(amount, owed)
    repay(txn, member, repaid)
    return repaid


def cancel_pending(txn: Transaction, member: Owner, amount: int, source: tuple[str, str]) -> None:
    _require_positive(amount)
    txn.add(MEMBER_PENDING, member, -amount, PENDING_CANCEL)
    txn.add(*source, amount, PENDING_CANCEL)


def debit(txn: Transaction, member: Owner, amount: int, sink: tuple[str, str], kind: str) -> None:
    """Take `amount` from available (the caller checked it is there)."""
    _require_positive(amount)
    txn.add(MEMBER_AVAILABLE, member, -amount, kind)
    txn.add(*sink, amount, kind)


def hold(txn: Transaction, member: Owner, amount: int) -> None:
    _require_positive(amount)
    txn.add(MEMBER_AVAILABLE, member, -amount, HOLD)
    txn.add(MEMBER_HELD, member, amount, HOLD)


def release(txn: Transaction, member: Owner, amount: int) -> None:
    _require_positive(amount)
    txn.add(MEMBER_HELD, member, -amount, HOLD_RELEASE)
    txn.add(MEMBER_AVAILABLE, member, amount, HOLD_RELEASE)


def capture(txn: Transaction, member: Owner, amount: int) -> None:
    _require_positive(amount)
    txn.add(MEMBER_HELD, member, -amount, HOLD_CAPTURE)
    txn.add(REDEMPTION, "", amount, HOLD_CAPTURE)


def take_or_owe(
    txn: Transaction,
    member: Owner,
    amount: int,
    available: int,
    counter: tuple[str, str],
    kind: str,
) -> int:
    """Take `amount` from available; what available cannot cover becomes debt.

    Used by refund clawbacks and by captures of lapsed holds. Returns the debt part.
    """
    _require_positive(amount)
    taken = min(amount, available)
    owed = amount - taken
    txn.add(MEMBER_AVAILABLE, member, -taken, kind)
    txn.add(MEMBER_DEBT, member, -owed, DEBT_ENTRY)
    txn.add(*counter, amount, kind)
    return owed


def top_up(txn: Transaction, merchant: str, amount: int) -> None:
    _require_positive(amount)
    txn.add(MERCHANT_FUNDING, merchant, -amount, TOP_UP)
    txn.add(MERCHANT_BUDGET, merchant, amount, TOP_UP)


def issuance(rule_code: str) -> tuple[str, str]:
    return (ISSUANCE, rule_code)


def merchant_budget(merchant_id: str) -> tuple[str, str]:
    return (MERCHANT_BUDGET, merchant_id)
