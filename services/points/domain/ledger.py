"""Double-entry postings: each business transaction is a list of postings summing to zero.

Accounts are (account, owner) pairs. A member's buckets are `available`, `pending`, `held` and
`debt` owned by the member id. Debt is a receivable (the member owes points), so its postings
are negative when the debt grows; the member's displayed debt is minus the account's sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Accounts.
AVAILABLE = "member_available"
PENDING = "member_pending"
HELD = "member_held"
DEBT = "member_debt"
ISSUANCE = "issuance"  # owner: the rule (campaign) that issued the points
MERCHANT_BUDGET = "merchant_budget"  # owner: merchant id; never negative
MERCHANT_FUNDING = "merchant_funding"  # owner: merchant id; points the merchant bought
REDEMPTION = "redemption"
EXPIRY = "expiry"
ADJUSTMENT = "operator_adjustment"
MEMBER_ACCOUNTS = (AVAILABLE, PENDING, HELD, DEBT)
BUCKETS = {AVAILABLE: "available", PENDING: "pending", HELD: "held", DEBT: "debt"}

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
class Posting:
    account: str
    owner: str
    amount: int
    kind: str

    @property
    def is_member_bucket(self) -> bool:
        return self.account in MEMBER_ACCOUNTS

    @property
    def displayed_amount(self) -> int:
        """The change of the bucket as the member sees it (debt grows positive)."""
        return -self.amount if self.account == DEBT else self.amount


@dataclass(frozen=True)
class Buckets:
    """A member's balance. Every bucket is non-negative."""

    available: int = 0
    pending: int = 0
    held: int = 0
    debt: int = 0

    def is_valid(self) -> bool:
        return min(self.available, self.pending, self.held, self.debt) >= 0


@dataclass
class Transaction:
    """One balanced journal transaction and what it is about."""

    kind: str
    member_id: str | None = None
    postings: list[Posting] = field(default_factory=list)
    rule_code: str = ""
    rule_version: int | None = None
    reference: str = ""
    reason: str = ""
    earned: int = 0  # points counted against the rule's caps
    dedupe_key: str | None = None

    def add(self, account: str, owner: str, amount: int, kind: str) -> None:
        if amount:
            self.postings.append(Posting(account, owner, amount, kind))

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
    member: str,
    amount: int,
    source: tuple[str, str],
    owed: int,
    kind: str = CREDIT,
) -> int:
    """Credit `amount` to available from `source`; debt is repaid first. Returns the repayment."""
    _require_positive(amount)
    repaid = min(amount, owed)
    txn.add(*source, -amount, kind)
    txn.add(AVAILABLE, member, amount, kind)
    repay(txn, member, repaid)
    return repaid


def repay(txn: Transaction, member: str, amount: int) -> None:
    """Available points repay debt."""
    txn.add(AVAILABLE, member, -amount, DEBT_REPAY)
    txn.add(DEBT, member, amount, DEBT_REPAY)


def pending_credit(txn: Transaction, member: str, amount: int, source: tuple[str, str]) -> None:
    _require_positive(amount)
    txn.add(*source, -amount, PENDING_CREDIT)
    txn.add(PENDING, member, amount, PENDING_CREDIT)


def confirm_pending(txn: Transaction, member: str, amount: int, owed: int) -> int:
    """Pending rebate becomes available; debt is repaid first. Returns the repayment."""
    _require_positive(amount)
    txn.add(PENDING, member, -amount, PENDING_CONFIRM)
    txn.add(AVAILABLE, member, amount, PENDING_CONFIRM)
    repaid = min(amount, owed)
    repay(txn, member, repaid)
    return repaid


def cancel_pending(txn: Transaction, member: str, amount: int, source: tuple[str, str]) -> None:
    _require_positive(amount)
    txn.add(PENDING, member, -amount, PENDING_CANCEL)
    txn.add(*source, amount, PENDING_CANCEL)


def debit(txn: Transaction, member: str, amount: int, sink: tuple[str, str], kind: str) -> None:
    """Take `amount` from available (the caller checked it is there)."""
    _require_positive(amount)
    txn.add(AVAILABLE, member, -amount, kind)
    txn.add(*sink, amount, kind)


def hold(txn: Transaction, member: str, amount: int) -> None:
    _require_positive(amount)
    txn.add(AVAILABLE, member, -amount, HOLD)
    txn.add(HELD, member, amount, HOLD)


def release(txn: Transaction, member: str, amount: int) -> None:
    _require_positive(amount)
    txn.add(HELD, member, -amount, HOLD_RELEASE)
    txn.add(AVAILABLE, member, amount, HOLD_RELEASE)


def capture(txn: Transaction, member: str, amount: int) -> None:
    _require_positive(amount)
    txn.add(HELD, member, -amount, HOLD_CAPTURE)
    txn.add(REDEMPTION, "", amount, HOLD_CAPTURE)


def take_or_owe(
    txn: Transaction,
    member: str,
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
    txn.add(AVAILABLE, member, -taken, kind)
    txn.add(DEBT, member, -owed, DEBT_ENTRY)
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
