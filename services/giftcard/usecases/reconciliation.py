"""Stock and the daily reconciliation report (进销存), exact to the fen.

A run of business day D (in the business zone) for one currency:

- opening: the latest revision of D−1 when it covered the whole day and balanced, else what the
  journal says was owed before D;
- lines: the postings of D's transactions by account and direction (domain.reconciliation);
- closing: the balances (cards' balance + held, stored value's four columns) less what later
  days posted, by part;
- findings: every part where opening + flows ≠ closing (domain.liability.reconcile), every kept
  balance that differs from its postings and every broken journal invariant
  (kit.journal.reconcile), cards holding value in a state that holds none, the day's order
  payments applied with a problem and sales disputed by finance.

Everything is read in one REPEATABLE READ snapshot while the service keeps writing; the report
is then stored as the day's next revision (append-only).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from zoneinfo import ZoneInfo

import asyncpg

from ..deps import GiftcardDeps
from ..domain import reconciliation as rules
from ..store import reconciliation as store
from ..store import reports
from ..store import stock_checks as checks
from ..store.reports import Report
from ..store.stock_checks import StockRow

SYSTEM = "system"
# At most this many findings of one check are listed (then one saying how many more).
MAX_LISTED = 200
# The daily job reports a day only this long after it ended, so that a transaction begun just
# before midnight (its business day the day before) has committed.
DAILY_GRACE = dt.timedelta(minutes=5)
# No business day before this one is reconciled (nothing of the service is older).
EARLIEST_DAY = dt.date(2000, 1, 1)


class Reconciliation:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.deps.settings.business_zone)

    @property
    def default_currency(self) -> str:
        return self.deps.settings.currency_code

    def business_day(self, now: dt.datetime) -> dt.date:
        return now.astimezone(self.zone).date()

    def period(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The day's start and end (exclusive), in UTC."""
        start = dt.datetime.combine(day, dt.time(), self.zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)

    # --- stock --------------------------------------------------------------------------------
    async def stock(
        self, currency: str | None, product_id: uuid.UUID | None
    ) -> tuple[list[StockRow], dt.datetime]:
        async with self.deps.pool.acquire() as conn:
            now = self.deps.now()
            return await checks.stock(conn, currency, product_id), now

    # --- reports ------------------------------------------------------------------------------
    async def get(self, day: dt.date, currency: str, revision: int | None) -> Report | None:
        async with self.deps.pool.acquire() as conn:
            return await reports.get(conn, day, currency, revision)

    async def reports(
        self,
        currency: str,
        *,
        start: dt.date | None,
        end: dt.date | None,
        before: dt.date | None,
        unbalanced_only: bool,
        limit: int,
    ) -> list[Report]:
        async with self.deps.pool.acquire() as conn:
            return await reports.latest_per_day(
                conn,
                currency,
                start=start,
                end=end,
                before=before,
                unbalanced_only=unbalanced_only,
                limit=limit,
            )

    async def run(
        self, conn: asyncpg.Connection, day: dt.date, currency: str, run_by: str
    ) -> Report:
        """Reconcile `day` now and store the report as its next revision, in the caller's
        transaction (`conn`); the figures are read in a snapshot of their own."""
        await reports.lock_day(conn, day, currency)
        now = self.deps.now()
        report = await self.compute(day, currency, now, run_by)
        revision = await reports.next_revision(conn, day, currency)
        return await reports.insert(conn, _with_revision(report, revision))

    async def compute(self, day: dt.date, currency: str, now: dt.datetime, run_by: str) -> Report:
        """The report of `day` as the books stand (revision 0: not stored)."""
        start, end = self.period(day)
        complete = now >= end
        period_end = end if complete else max(now, start)
        default = self.default_currency
        async with (
            self.deps.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            opening, opening_from = await self._opening(conn, day, currency, start)
            postings = await store.day_postings(conn, day, currency, default)
            split = await store.stored_value_split(conn, day, currency, default)
            activated = await store.activated(conn, currency, start, end)
            flows = rules.day_flows(postings, split, activated)
            closing = await store.liability_after(conn, day, currency, end)
            stock = await checks.stock(conn, currency)
            findings = [
                *rules.liability_findings(flows, opening, closing),
                *flows.findings,
                *await checks.journal_findings(conn, MAX_LISTED),
                *rules.valueless_findings(
                    await checks.valueless_with_value(conn, currency, MAX_LISTED)
                ),
                *await checks.order_problems(
                    conn, currency, default, start, period_end, MAX_LISTED
                ),
                *await checks.disputed_sales(conn, currency, start, period_end, MAX_LISTED),
            ]
        return Report(
            business_day=day,
            currency_code=currency,
            revision=0,
            period_start=start,
            period_end=period_end,
            complete=complete,
            opening=opening,
            opening_from=opening_from,
            lines=flows.lines,
            closing=closing,
            stock=stock,
            findings=findings,
            flows=rules.expected_lines(flows, opening),
            created_by=run_by,
            create_time=now,
        )

    async def _opening(
        self, conn, day: dt.date, currency: str, start: dt.datetime
    ) -> tuple[rules.Liability, str]:
        """The previous day's closing when its latest report covered the whole day and
        balanced; else the journal up to the day."""
        previous = await reports.get(conn, day - dt.timedelta(days=1), currency)
        if previous is not None and previous.complete and previous.balanced:
            return previous.closing, f"{previous.business_day}#{previous.revision}"
        return await store.liability_before(conn, day, currency, start), "journal"

    # --- the daily job ------------------------------------------------------------------------
    async def run_daily(self, now: dt.datetime | None = None) -> list[Report]:
        """The report of the previous business day, once per day and currency: a day that has
        a report already is left alone (the day's lock and the report's key make two replicas
        write one)."""
        now = now or self.deps.now()
        today = self.business_day(now)
        if now < self.period(today)[0] + DAILY_GRACE:
            return []
        day = today - dt.timedelta(days=1)
        async with self.deps.pool.acquire() as conn:
            currencies = await store.currencies(conn, self.default_currency)
        written = []
        for currency in currencies:
            async with self.deps.pool.acquire() as conn, conn.transaction():
                await reports.lock_day(conn, day, currency)
                if await reports.exists(conn, day, currency):
                    continue
                report = await self.compute(day, currency, now, SYSTEM)
                written.append(await reports.insert(conn, _with_revision(report, 1)))
        return written

    async def currencies(self) -> list[str]:
        async with self.deps.pool.acquire() as conn:
            return await store.currencies(conn, self.default_currency)


def _with_revision(report: Report, revision: int) -> Report:
    return replace(report, revision=revision)
