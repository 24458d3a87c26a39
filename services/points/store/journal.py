"""The journal: transactions and their postings, caps usage, and the member's history."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.kit import ids, journal

from ..domain import postings
from . import budgets, members


class BudgetShort(Exception):
    """A merchant budget would go below zero (or the merchant has none)."""

    def __init__(self, merchant_id: str, exists: bool) -> None:
        super().__init__(merchant_id)
        self.merchant_id = merchant_id
        self.exists = exists


@dataclass(frozen=True)
class Earned:
    """Points a member earned under one rule code: today, and over the rule's period."""

    today: int
    period: int


@dataclass(frozen=True)
class Entry:
    """One posting on a member's bucket, with what its transaction was about."""

    posting_id: int
    txn_id: uuid.UUID
    account: str
    amount: int
    entry_kind: str
    created_at: dt.datetime
    rule_code: str
    reference: str
    reason: str


async def post(
    conn, batch, txn: postings.Transaction, *, business_day: dt.date, actor: str = ""
) -> uuid.UUID:
    """Write a balanced transaction and apply it to the member's buckets and merchant budgets.

    The caller holds the member's row lock. Merchant budgets change at once, on `conn` (a budget
    that would go below zero raises BudgetShort); the journal rows and the member's buckets are
    queued on `batch`, which the caller runs. Returns the transaction id.
    """
    if not txn.is_balanced():
        raise ValueError(f"unbalanced transaction {txn.kind}: {txn.postings}")
    ps = txn.postings
    for merchant in {p.owner for p in ps if p.account == postings.MERCHANT_BUDGET}:
        if not await budgets.apply(
            conn, merchant, txn.account_delta(postings.MERCHANT_BUDGET, merchant)
        ):
            raise BudgetShort(merchant, exists=await budgets.get(conn, merchant) is not None)
    txn_id = ids.new_id()
    member_id = txn.member_id
    await batch.execute(
        "INSERT INTO journal_transactions (txn_id, kind, member_id, rule_code, rule_version,"
        " reference, reason, actor, business_day, earned, dedupe_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        txn_id,
        txn.kind,
        member_id,
        txn.rule_code,
        txn.rule_version,
        txn.reference,
        txn.reason,
        actor,
        business_day,
        txn.earned,
        txn.dedupe_key,
    )
    await journal.write_postings(batch, txn_id, ps, postings.MEMBER_ACCOUNTS)
    if member_id is not None:
        d = txn.bucket_deltas()
        if d.available or d.pending or d.held or d.debt:
            await members.apply_buckets(batch, member_id, d.available, d.pending, d.held, d.debt)
    return txn_id


async def dedupe_exists(conn, key: str) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM journal_transactions WHERE dedupe_key = $1", key)
    )


async def earned(
    conn, member_id: uuid.UUID, rule_code: str, since: dt.date, today: dt.date
) -> Earned:
    """Points a member earned under a rule today and on business days since..today, in one read."""
    row = await conn.fetchrow(
        "SELECT coalesce(sum(earned) FILTER (WHERE business_day = $4), 0)::bigint AS today,"
        " coalesce(sum(earned), 0)::bigint AS period FROM journal_transactions"
        " WHERE member_id = $1 AND rule_code = $2 AND business_day BETWEEN $3 AND $4"
        " AND earned > 0",
        member_id,
        rule_code,
        since,
        today,
    )
    return Earned(row["today"], row["period"])


async def history(
    conn,
    member_id: uuid.UUID,
    *,
    kind: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    before: int | None,
    limit: int,
) -> list[Entry]:
    """A page of the member's postings on their own buckets, newest first."""
    rows = await conn.fetch(
        "SELECT p.posting_id, p.txn_id, p.account, p.amount, p.entry_kind, p.created_at,"
        " t.rule_code, t.reference, t.reason FROM journal_postings p"
        " JOIN journal_transactions t USING (txn_id)"
        " WHERE p.member_id = $1"
        "   AND ($2::text IS NULL OR p.entry_kind = $2)"
        "   AND ($3::timestamptz IS NULL OR p.created_at >= $3)"
        "   AND ($4::timestamptz IS NULL OR p.created_at < $4)"
        "   AND ($5::bigint IS NULL OR p.posting_id < $5)"
        " ORDER BY p.posting_id DESC LIMIT $6",
        member_id,
        kind,
        start,
        end,
        before,
        limit,
    )
    return [Entry(**r) for r in rows]
