"""gRPC PointsService: proto ⇄ domain, validation, authorization, one transaction per call."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import points_service_pb2_grpc as pb_grpc
from loyalty.points.v1 import resources_pb2 as res
from services.kit import auth, errors, idempotency, ids
from services.kit.errors import Violations

from .domain import ledger as books
from .domain import rules as rules_domain
from .domain.rules import EarningRule, StreakBonus
from .ledger import Ledger, ts
from .store import budgets, holds, journal, members
from .store import rules as rule_store

SCOPE_READ, SCOPE_GRANT, SCOPE_SPEND = "points:read", "points:grant", "points:spend"
SCOPE_ADJUST, SCOPE_ADMIN = "points:adjust", "points:admin"
MAX_PAGE, DEFAULT_PAGE = 500, 50
MAX_POINTS = rules_domain.MAX_POINTS
_MERCHANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_BUCKETS = {
    books.AVAILABLE: res.LEDGER_BUCKET_AVAILABLE,
    books.PENDING: res.LEDGER_BUCKET_PENDING,
    books.HELD: res.LEDGER_BUCKET_HELD,
    books.DEBT: res.LEDGER_BUCKET_DEBT,
}
_HOLD_STATES = {
    "held": res.HOLD_STATE_HELD,
    "captured": res.HOLD_STATE_CAPTURED,
    "released": res.HOLD_STATE_RELEASED,
    "expired": res.HOLD_STATE_EXPIRED,
}


def _uuid(v: Violations, field: str, value: str, what: str) -> uuid.UUID | None:
    parsed = ids.parse_id(value)
    if parsed is None:
        v.add(field, f"must be {what} (UUID)")
    return parsed


def _text(v: Violations, field: str, value: str, *, maximum: int, required: bool = True) -> None:
    if required and not value.strip():
        v.add(field, "required")
    elif len(value) > maximum:
        v.add(field, f"at most {maximum} characters")


def _points(v: Violations, field: str, value: int) -> None:
    if value <= 0:
        v.add(field, "must be positive")
    elif value > MAX_POINTS:
        v.add(field, f"at most {MAX_POINTS}")


def _merchant(v: Violations, field: str, value: str, required: bool = True) -> None:
    if not value and not required:
        return
    if not _MERCHANT_ID.match(value):
        v.add(field, "1-64 characters: letters, digits and _ . : -")


def _rule_kind(kind: str) -> int:
    return res.EarningRuleKind.Value(f"EARNING_RULE_KIND_{kind.upper()}")


def _rule_proto(rule: EarningRule) -> res.EarningRule:
    return res.EarningRule(
        rule_code=rule.rule_code,
        kind=_rule_kind(rule.kind),
        version=rule.version,
        points=rule.points,
        daily_cap=rule.daily_cap,
        period_cap=rule.period_cap,
        period_days=rule.period_days,
        streak_bonus=[res.StreakBonus(day=b.day, bonus=b.bonus) for b in rule.streak_bonus],
        merchant_funded=rule.merchant_funded,
        enabled=rule.enabled,
        effective_time=ts(rule.effective_at),
    )


def _hold_proto(row) -> res.Hold:
    return res.Hold(
        hold_id=str(row["hold_id"]),
        member_id=str(row["member_id"]),
        amount=row["amount"],
        state=_HOLD_STATES[row["state"]],
        order_id=row["order_id"],
        expire_time=ts(row["expires_at"]),
        create_time=ts(row["created_at"]),
    )


def _entry_proto(row) -> res.LedgerEntry:
    posting = books.Posting(row["account"], "", row["amount"], row["entry_kind"])
    return res.LedgerEntry(
        entry_id=str(row["posting_id"]),
        transaction_id=str(row["txn_id"]),
        kind=res.LedgerEntryKind.Value(f"LEDGER_ENTRY_KIND_{row['entry_kind'].upper()}"),
        amount=posting.displayed_amount,
        rule_code=row["rule_code"],
        reference=row["reference"],
        reason=row["reason"],
        create_time=ts(row["created_at"]),
        bucket=_BUCKETS[row["account"]],
    )


def _page_token(after, query: dict) -> str:
    raw = json.dumps({"after": after, **query}, sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _page_after(token: str, query: dict):
    """The cursor of a page token; a token from another query is refused (AIP-158)."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = data.pop("after")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise errors.invalid([("page_token", "malformed page token")]) from exc
    if data != query:
        raise errors.invalid([("page_token", "belongs to a query with other filters")])
    return after


def _page_size(v: Violations, value: int) -> int:
    v.check(value >= 0, "page_size", "must not be negative")
    return min(value or DEFAULT_PAGE, MAX_PAGE)


class PointsApi(pb_grpc.PointsServiceServicer):
    def __init__(self, app) -> None:
        self.pool = app.pool
        self.ledger: Ledger = app.ledger

    async def _balance(self, conn, member_id: uuid.UUID) -> res.Balance:
        return await self.ledger.balance(conn, member_id)

    # --- reading --------------------------------------------------------------------------
    async def GetBalance(self, request, context):
        v = Violations()
        member_id = _uuid(v, "member_id", request.member_id, "a member id")
        v.raise_if_any()
        auth.require_member_or_scope(str(member_id), SCOPE_READ)
        async with self.pool.acquire() as conn:
            return pb.GetBalanceResponse(balance=await self._balance(conn, member_id))

    async def ListLedgerEntries(self, request, context):
        v = Violations()
        member_id = _uuid(v, "member_id", request.member_id, "a member id")
        size = _page_size(v, request.page_size)
        kind = None
        if request.kind:
            name = (
                res.LedgerEntryKind.Name(request.kind)
                if request.kind in res.LedgerEntryKind.values()
                else ""
            )
            v.check(bool(name), "kind", "unknown kind")
            kind = name.removeprefix("LEDGER_ENTRY_KIND_").lower() or None
        start = request.start_time.ToDatetime(dt.UTC) if request.HasField("start_time") else None
        end = request.end_time.ToDatetime(dt.UTC) if request.HasField("end_time") else None
        v.check(not (start and end and end <= start), "end_time", "must be after start_time")
        v.raise_if_any()
        auth.require_member_or_scope(str(member_id), SCOPE_READ)
        query = {
            "member_id": str(member_id),
            "kind": kind,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        }
        before = _page_after(request.page_token, query)
        if before is not None and not isinstance(before, int):
            raise errors.invalid([("page_token", "malformed page token")])
        async with self.pool.acquire() as conn:
            if await members.get(conn, member_id) is None:
                raise errors.not_found("member", str(member_id))
            rows = await journal.history(
                conn, member_id, kind=kind, start=start, end=end, before=before, limit=size + 1
            )
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = _page_token(rows[-1]["posting_id"], query)
        return pb.ListLedgerEntriesResponse(
            entries=[_entry_proto(r) for r in rows], next_page_token=token
        )

    async def GetHold(self, request, context):
        v = Violations()
        hold_id = _uuid(v, "hold_id", request.hold_id, "a hold id")
        v.raise_if_any()
        principal = auth.require()
        async with self.pool.acquire() as conn:
            hold = await holds.get(conn, hold_id)
        if principal.kind != "member":
            auth.require_scope(SCOPE_READ)
        if hold is None or (
            principal.kind == "member" and str(hold["member_id"]) != principal.subject
        ):
            raise errors.not_found("hold", str(hold_id))
        return pb.GetHoldResponse(hold=_hold_proto(hold))

    # --- earning --------------------------------------------------------------------------
    async def SignIn(self, request, context):
        v = Violations()
        member_id = _uuid(v, "member_id", request.member_id, "a member id")
        v.raise_if_any()
        auth.require_member_or_scope(str(member_id), SCOPE_GRANT)

        async def work(conn):
            posted, streak = await self.ledger.sign_in(conn, member_id)
            return pb.SignInResponse(
                transaction_id=str(posted.txn_id),
                points=posted.points,
                streak_days=streak,
                balance=await self._balance(conn, member_id),
            )

        return await idempotency.run_once(self.pool, "SignIn", request, pb.SignInResponse, work)

    async def Grant(self, request, context):
        v = Violations()
        member_id = _uuid(v, "member_id", request.member_id, "a member id")
        _text(v, "rule_code", request.rule_code, maximum=64)
        if request.HasField("points"):
            _points(v, "points", request.points)
        _text(v, "reference", request.reference, maximum=128, required=False)
        _merchant(v, "merchant_id", request.merchant_id, required=False)
        v.raise_if_any()
        auth.require_scope(SCOPE_GRANT)

        async def work(conn):
            rule = await rule_store.current(conn, request.rule_code, self.ledger.now())
            if rule is None:
                raise errors.not_found("rule", request.rule_code)
            if rule.kind in rules_domain.NOT_GRANTABLE:
                raise errors.invalid(
                    [("rule_code", f"{rule.kind} rules are not credited through Grant")],
                    "RULE_NOT_GRANTABLE",
                )
            amount, problem = rules_domain.grant_amount(
                rule, request.points if request.HasField("points") else None
            )
            if problem:
                raise errors.invalid([("points", problem)])
            if rule.merchant_funded and not request.merchant_id:
                raise errors.invalid([("merchant_id", "required: the rule is merchant-funded")])
            posted = await self.ledger.earn(
                conn,
                member_id,
                rule,
                amount,
                reference=request.reference,
                merchant_id=request.merchant_id,
            )
            return pb.GrantResponse(
                transaction_id=str(posted.txn_id),
                points=posted.points,
                expire_time=ts(posted.expires_at),
                balance=await self._balance(conn, member_id),
            )

        return await idempotency.run_once(self.pool, "Grant", request, pb.GrantResponse, work)

    # --- spending -------------------------------------------------------------------------
    async def ReserveHold(self, request, context):
        v = Violations()
        member_id = _uuid(v, "member_id", request.member_id, "a member id")
        _text(v, "order_id", request.order_id, maximum=128)
        _points(v, "points", request.points)
        v.check(request.order_amount_minor > 0, "order_amount_minor", "must be positive")
        v.raise_if_any()
        auth.require_member_or_scope(str(member_id), SCOPE_SPEND)

        async def work(conn):
            hold = await self.ledger.reserve(
                conn, member_id, request.order_id, request.points, request.order_amount_minor
            )
            return pb.ReserveHoldResponse(
                hold=_hold_proto(hold), balance=await self._balance(conn, member_id)
            )

        return await idempotency.run_once(
            self.pool, "ReserveHold", request, pb.ReserveHoldResponse, work
        )

    async def CaptureHold(self, request, context):
        v = Violations()
        hold_id = _uuid(v, "hold_id", request.hold_id, "a hold id")
        v.raise_if_any()
        auth.require_scope(SCOPE_SPEND)

        async def work(conn):
            txn_id, hold = await self.ledger.capture(conn, hold_id)
            return pb.CaptureHoldResponse(
                transaction_id=str(txn_id),
                hold=_hold_proto(hold),
                balance=await self._balance(conn, hold["member_id"]),
            )

        return await idempotency.run_once(
            self.pool, "CaptureHold", request, pb.CaptureHoldResponse, work
        )

    async def ReleaseHold(self, request, context):
        v = Violations()
        hold_id = _uuid(v, "hold_id", request.hold_id, "a hold id")
        v.raise_if_any()
        principal = auth.require()
        if principal.kind != "member":
            auth.require_scope(SCOPE_SPEND)

        async def work(conn):
            found = await holds.get(conn, hold_id)
            if found is None or (
                principal.kind == "member" and str(found["member_id"]) != principal.subject
            ):
                raise errors.not_found("hold", str(hold_id))
            hold = await self.ledger.release(conn, hold_id)
            return pb.ReleaseHoldResponse(
                hold=_hold_proto(hold), balance=await self._balance(conn, hold["member_id"])
            )

        return await idempotency.run_once(
            self.pool, "ReleaseHold", request, pb.ReleaseHoldResponse, work
        )

    async def Redeem(self, request, context):
        v = Violations()
        member_id = _uuid(v, "member_id", request.member_id, "a member id")
        _points(v, "points", request.points)
        _text(v, "catalogue_item", request.catalogue_item, maximum=128)
        _text(v, "reference", request.reference, maximum=128, required=False)
        v.raise_if_any()
        auth.require_member_or_scope(str(member_id), SCOPE_SPEND)

        async def work(conn):
            posted = await self.ledger.redeem(
                conn, member_id, request.points, request.catalogue_item, request.reference
            )
            return pb.RedeemResponse(
                transaction_id=str(posted.txn_id), balance=await self._balance(conn, member_id)
            )

        return await idempotency.run_once(self.pool, "Redeem", request, pb.RedeemResponse, work)

    # --- operators ------------------------------------------------------------------------
    async def Adjust(self, request, context):
        v = Violations()
        member_id = _uuid(v, "member_id", request.member_id, "a member id")
        v.check(request.delta != 0, "delta", "must not be 0")
        v.check(abs(request.delta) <= MAX_POINTS, "delta", f"at most {MAX_POINTS} either way")
        _text(v, "reason", request.reason, maximum=256)
        v.raise_if_any()
        auth.require_scope(SCOPE_ADJUST)

        async def work(conn):
            rule = await rule_store.current(
                conn, rules_domain.CODE_OPERATOR_ADJUST, self.ledger.now()
            )
            if rule is None:
                raise errors.not_found("rule", rules_domain.CODE_OPERATOR_ADJUST)
            posted = await self.ledger.adjust(
                conn, member_id, request.delta, request.reason.strip(), rule
            )
            return pb.AdjustResponse(
                transaction_id=str(posted.txn_id), balance=await self._balance(conn, member_id)
            )

        return await idempotency.run_once(self.pool, "Adjust", request, pb.AdjustResponse, work)

    async def TopUpMerchantBudget(self, request, context):
        v = Violations()
        _merchant(v, "merchant_id", request.merchant_id)
        _points(v, "points", request.points)
        v.raise_if_any()
        auth.require_scope(SCOPE_ADMIN)

        async def work(conn):
            txn_id = await self.ledger.top_up(conn, request.merchant_id, request.points)
            row = await budgets.get(conn, request.merchant_id)
            return pb.TopUpMerchantBudgetResponse(
                transaction_id=str(txn_id),
                budget=res.MerchantBudget(merchant_id=row["merchant_id"], balance=row["balance"]),
            )

        return await idempotency.run_once(
            self.pool, "TopUpMerchantBudget", request, pb.TopUpMerchantBudgetResponse, work
        )

    async def GetMerchantBudget(self, request, context):
        v = Violations()
        _merchant(v, "merchant_id", request.merchant_id)
        v.raise_if_any()
        auth.require_scope(SCOPE_READ)
        async with self.pool.acquire() as conn:
            row = await budgets.get(conn, request.merchant_id)
        if row is None:
            raise errors.not_found("merchant_budget", request.merchant_id)
        return pb.GetMerchantBudgetResponse(
            budget=res.MerchantBudget(merchant_id=row["merchant_id"], balance=row["balance"])
        )

    # --- rules ----------------------------------------------------------------------------
    async def UpsertEarningRule(self, request, context):
        r = request.rule
        kind = ""
        if r.kind and r.kind in res.EarningRuleKind.values():
            kind = res.EarningRuleKind.Name(r.kind).removeprefix("EARNING_RULE_KIND_").lower()
        effective = r.effective_time.ToDatetime(dt.UTC) if r.HasField("effective_time") else None
        rule = EarningRule(
            rule_code=r.rule_code,
            kind=kind,
            points=r.points,
            daily_cap=r.daily_cap,
            period_cap=r.period_cap,
            period_days=r.period_days,
            streak_bonus=tuple(StreakBonus(b.day, b.bonus) for b in r.streak_bonus),
            merchant_funded=r.merchant_funded,
            enabled=r.enabled,
            effective_at=effective,
        )
        problems = rules_domain.problems(rule)
        if problems:
            raise errors.invalid(problems)
        principal = auth.require_scope(SCOPE_ADMIN)

        async def work(conn):
            await rule_store.lock_code(conn, rule.rule_code)
            latest = await rule_store.latest(conn, rule.rule_code)
            if latest is not None and latest.kind != rule.kind:
                raise errors.failed_precondition(
                    "RULE_KIND_CHANGED", f"rule {rule.rule_code} is a {latest.kind} rule"
                )
            stored = await rule_store.insert(
                conn,
                EarningRule(
                    **{
                        **rule.__dict__,
                        "version": (latest.version if latest else 0) + 1,
                        "effective_at": rule.effective_at or self.ledger.now(),
                    }
                ),
                author=f"{principal.kind}:{principal.subject}",
            )
            await members.audit(
                conn,
                actor=f"{principal.kind}:{principal.subject}",
                action="points.rule_upsert",
                member_id=None,
                detail={"rule_code": stored.rule_code, "version": stored.version},
            )
            return pb.UpsertEarningRuleResponse(rule=_rule_proto(stored))

        return await idempotency.run_once(
            self.pool, "UpsertEarningRule", request, pb.UpsertEarningRuleResponse, work
        )

    async def GetEarningRule(self, request, context):
        v = Violations()
        _text(v, "rule_code", request.rule_code, maximum=64)
        if request.HasField("version"):
            v.check(request.version > 0, "version", "must be positive")
        v.raise_if_any()
        auth.require_scope(SCOPE_READ)
        async with self.pool.acquire() as conn:
            if request.HasField("version"):
                rule = await rule_store.version(conn, request.rule_code, request.version)
            else:
                rule = await rule_store.current(conn, request.rule_code, self.ledger.now())
        if rule is None:
            raise errors.not_found("rule", request.rule_code)
        return pb.GetEarningRuleResponse(rule=_rule_proto(rule))

    async def ListEarningRules(self, request, context):
        v = Violations()
        size = _page_size(v, request.page_size)
        v.raise_if_any()
        auth.require_scope(SCOPE_READ)
        after = _page_after(request.page_token, {})
        if after is not None and not isinstance(after, str):
            raise errors.invalid([("page_token", "malformed page token")])
        async with self.pool.acquire() as conn:
            found = await rule_store.list_current(conn, self.ledger.now(), after, size + 1)
        token = ""
        if len(found) > size:
            found = found[:size]
            token = _page_token(found[-1].rule_code, {})
        return pb.ListEarningRulesResponse(
            rules=[_rule_proto(r) for r in found], next_page_token=token
        )


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PointsService"].full_name
