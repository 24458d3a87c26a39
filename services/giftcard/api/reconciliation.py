"""GetStock, GetReconciliationReport, ListReconciliationReports, RunReconciliation."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors, idempotency, paging
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain.reconciliation import Liability
from ..store.reports import Report
from ..store.stock_checks import StockRow
from ..usecases.reconciliation import EARLIEST_DAY
from . import access, convert
from .base import Part

READERS = (access.FINANCE, access.MANAGER)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(v: Violations, field_path: str, value: str, *, required: bool) -> dt.date | None:
    """A business day "YYYY-MM-DD" (None when empty and not required)."""
    if not value:
        if required:
            v.add(field_path, "required: a day as YYYY-MM-DD")
        return None
    try:
        if len(value) != 10 or not _DAY.fullmatch(value):
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        v.add(field_path, "must be a day as YYYY-MM-DD")
        return None
    if day < EARLIEST_DAY:
        v.add(field_path, f"must be {EARLIEST_DAY} or later")
        return None
    return day


def currency(v: Violations, field_path: str, value: str, default: str | None) -> str | None:
    """An ISO 4217 code; empty for `default`."""
    if not value:
        return default
    if not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
        v.add(field_path, "must be an ISO 4217 code (3 capital letters)")
        return None
    return value


def liability_proto(value: Liability) -> res.Liability:
    return res.Liability(
        cards_in_stock_minor=value.cards_in_stock,
        cards_sold_minor=value.cards_sold,
        stored_value_principal_minor=value.principal,
        stored_value_bonus_minor=value.bonus,
        total_minor=value.total,
    )


def stock_proto(row: StockRow) -> res.StockLine:
    return res.StockLine(
        product_id=str(row.product_id),
        currency_code=row.currency_code,
        face_value_minor=row.face_value_minor,
        state=convert.card_state(row.state),
        card_count=row.card_count,
        balance_minor=row.balance_minor,
    )


def report_proto(report: Report) -> res.ReconciliationReport:
    return res.ReconciliationReport(
        business_date=report.business_day.isoformat(),
        currency_code=report.currency_code,
        revision=report.revision,
        period_start=to_proto(report.period_start),
        period_end=to_proto(report.period_end),
        complete=report.complete,
        opening=liability_proto(report.opening),
        lines=[
            res.ReconciliationLine(
                kind=res.ReconciliationLineKind.Value(f"RECONCILIATION_LINE_KIND_{x.line.value}"),
                count=x.count,
                amount_minor=x.amount,
                effect_minor=x.effect,
            )
            for x in report.lines
        ],
        closing=liability_proto(report.closing),
        stock=[stock_proto(s) for s in report.stock],
        mismatches=[
            res.ReconciliationMismatch(
                kind=res.MismatchKind.Value(f"MISMATCH_KIND_{f.kind.value}"),
                reference=f.reference,
                expected_minor=f.expected,
                actual_minor=f.actual,
                description=f.description,
            )
            for f in report.findings
        ],
        balanced=report.balanced,
        run_by=report.created_by,
        run_time=to_proto(report.create_time),
    )


class ReconciliationApi(Part):
    @property
    def _default_currency(self) -> str:
        return self.deps.settings.currency_code

    async def GetStock(
        self, request: pb.GetStockRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStockResponse:
        access.back_office()
        v = Violations()
        code = currency(v, "currency_code", request.currency_code, None)
        product_id: uuid.UUID | None = None
        if request.product_id:
            product_id = v.uuid("product_id", request.product_id, "a product id")
        v.raise_if_any()
        rows, as_of = await self.uc.reconciliation.stock(code, product_id)
        return pb.GetStockResponse(lines=[stock_proto(r) for r in rows], as_of_time=to_proto(as_of))

    async def GetReconciliationReport(
        self, request: pb.GetReconciliationReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetReconciliationReportResponse:
        access.require_any(*READERS)
        v = Violations()
        day = parse_day(v, "business_date", request.business_date, required=True)
        code = currency(v, "currency_code", request.currency_code, self._default_currency)
        revision: int | None = None
        if request.HasField("revision"):
            revision = request.revision
            v.check(revision >= 1, "revision", "must be 1 or more")
        v.raise_if_any()
        assert day is not None and code is not None
        report = await self.uc.reconciliation.get(day, code, revision)
        if report is None:
            raise errors.not_found("REPORT", f"{day}#{revision}" if revision else str(day))
        return pb.GetReconciliationReportResponse(report=report_proto(report))

    async def ListReconciliationReports(
        self, request: pb.ListReconciliationReportsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListReconciliationReportsResponse:
        access.require_any(*READERS)
        v = Violations()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        code = currency(v, "currency_code", request.currency_code, self._default_currency)
        start = parse_day(v, "start_date", request.start_date, required=False)
        end = parse_day(v, "end_date", request.end_date, required=False)
        v.check(not (start and end and end < start), "end_date", "must not be before start_date")
        v.raise_if_any()
        assert code is not None
        query = {
            "currency_code": code,
            "start_date": str(start) if start else None,
            "end_date": str(end) if end else None,
            "unbalanced_only": request.unbalanced_only,
        }
        size = paging.size(request.page_size)
        after = paging.cursor(request.page_token, query, str)
        before = None
        if after is not None:
            try:
                before = dt.date.fromisoformat(after)
            except ValueError:
                raise errors.invalid([("page_token", "malformed page token")]) from None
        reports = await self.uc.reconciliation.reports(
            code,
            start=start,
            end=end,
            before=before,
            unbalanced_only=request.unbalanced_only,
            limit=size + 1,
        )
        reports, token = paging.page(reports, size, query, key=lambda r: r.business_day.isoformat())
        return pb.ListReconciliationReportsResponse(
            reports=[report_proto(r) for r in reports], next_page_token=token
        )

    async def RunReconciliation(
        self, request: pb.RunReconciliationRequest, context: grpc.aio.ServicerContext
    ) -> pb.RunReconciliationResponse:
        principal = access.require_any(access.FINANCE)
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        day = parse_day(v, "business_date", request.business_date, required=False)
        code = currency(v, "currency_code", request.currency_code, self._default_currency)
        uc = self.uc.reconciliation
        today = uc.business_day(self.deps.now())
        v.check(day is None or day <= today, "business_date", "must not be in the future")
        v.raise_if_any()
        assert code is not None
        run_day = day or today - dt.timedelta(days=1)

        async def work(conn) -> pb.RunReconciliationResponse:
            report = await uc.run(conn, run_day, code, principal.label)
            await access.record(
                conn,
                principal,
                "reconciliation.run",
                f"{run_day}:{code}",
                role="finance",
                revision=report.revision,
                balanced=report.balanced,
                mismatches=len(report.findings),
            )
            return pb.RunReconciliationResponse(report=report_proto(report))

        return await idempotency.once(self.pool, request, work)
