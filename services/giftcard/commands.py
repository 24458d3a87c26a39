"""The operating commands of giftcard (beside the kit's `serve`, `migrate`, `dead-letters`)."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from typing import TYPE_CHECKING

from services.kit import audit, db
from services.kit.service import Command

from .store.reports import Report
from .usecases.reconciliation import EARLIEST_DAY

if TYPE_CHECKING:
    from .app import GiftcardApp

RUN_BY = "command"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _summary(report: Report) -> dict:
    return {
        "currency_code": report.currency_code,
        "revision": report.revision,
        "complete": report.complete,
        "balanced": report.balanced,
        "opening_from": report.opening_from,
        "lines": report.flows,
        "closing": {
            "cards_in_stock_minor": report.closing.cards_in_stock,
            "cards_sold_minor": report.closing.cards_sold,
            "stored_value_principal_minor": report.closing.principal,
            "stored_value_bonus_minor": report.closing.bonus,
            "total_minor": report.closing.total,
        },
        "mismatches": [
            {
                "kind": f.kind.value,
                "reference": f.reference,
                "expected_minor": f.expected,
                "actual_minor": f.actual,
                "description": f.description,
            }
            for f in report.findings
        ],
    }


async def reconcile(app: GiftcardApp, *args: str) -> None:
    """Reconcile a business day (进销存): store its report and exit non-zero on any mismatch.

    reconcile [DAY]    DAY is YYYY-MM-DD in the business zone (default: the previous day);
                       every currency in use is reconciled, each report stored as the day's
                       next revision, and the reports are printed as JSON. Exit code 1 when a
                       report has a mismatch, 2 for a bad DAY."""
    uc = app.usecases.reconciliation
    today = uc.business_day(app.deps.now())
    if len(args) > 1:
        print("reconcile: at most one argument, DAY (YYYY-MM-DD)", file=sys.stderr)
        raise SystemExit(2)
    if args:
        try:
            if not _DAY.fullmatch(args[0]):
                raise ValueError(args[0])
            day = dt.date.fromisoformat(args[0])
        except ValueError:
            print(f"reconcile: DAY is YYYY-MM-DD, not {args[0]!r}", file=sys.stderr)
            raise SystemExit(2) from None
        if day > today or day < EARLIEST_DAY:
            print(f"reconcile: DAY is from {EARLIEST_DAY} to today, not {day}", file=sys.stderr)
            raise SystemExit(2)
    else:
        day = today - dt.timedelta(days=1)
    reports = []
    for currency in await uc.currencies():
        async with db.transaction(app.pool) as conn:
            report = await uc.run(conn, day, currency, RUN_BY)
            await audit.record(
                conn,
                actor=RUN_BY,
                action="giftcard.reconciliation.run",
                subject=f"{day}:{currency}",
                detail={"revision": report.revision, "balanced": report.balanced},
            )
        reports.append(report)
    balanced = all(r.balanced for r in reports)
    print(
        json.dumps(
            {
                "business_date": str(day),
                "balanced": balanced,
                "reports": [_summary(r) for r in reports],
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    if not balanced:
        raise SystemExit(1)


COMMANDS: dict[str, Command] = {"reconcile": reconcile}
