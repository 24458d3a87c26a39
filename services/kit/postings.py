"""Double-entry postings, as pure values: a business transaction is a list of postings on
(account, owner) pairs that sums to zero. Points (points and their buckets) and giftcard (card
value and stored value, in fen) keep their books this way; `kit.journal` writes and checks them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

# An account's owner: a member id, a card id, a rule code, a merchant id, or "".
Owner = uuid.UUID | str


@dataclass(frozen=True)
class Posting:
    account: str
    owner: str
    amount: int
    kind: str


@dataclass
class Entries:
    """The postings of one transaction under construction."""

    postings: list[Posting] = field(default_factory=list)

    def add(self, account: str, owner: Owner, amount: int, kind: str) -> None:
        """A zero amount posts nothing; owners are kept as text (ids beside codes)."""
        if amount:
            self.postings.append(Posting(account, str(owner), amount, kind))

    def move(self, source: tuple[str, Owner], target: tuple[str, Owner], amount: int, kind: str):
        """`amount` (positive) from one account to another: the two postings of a transfer."""
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.add(*source, -amount, kind)
        self.add(*target, amount, kind)

    def is_balanced(self) -> bool:
        return bool(self.postings) and sum(p.amount for p in self.postings) == 0

    def account_delta(self, account: str, owner: Owner) -> int:
        owner = str(owner)
        return sum(p.amount for p in self.postings if p.account == account and p.owner == owner)
