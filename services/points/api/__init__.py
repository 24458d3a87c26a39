"""gRPC PointsService: proto ⇄ domain, validation, authorization, one transaction per call."""

from __future__ import annotations

import datetime as dt
import uuid

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import points_service_pb2_grpc as pb_grpc
from loyalty.points.v1 import resources_pb2 as res
from services.kit import audit, auth, errors, idempotency, paging, timestamps
from services.kit.deps import Deps
from services.kit.errors import Violations

from ..config import PointsSettings
from ..domain import rules as rules_domain
from ..domain.rules import EarningRule
from ..ledger import Ledger, Writes
from ..store import budgets, holds, journal, members
from ..store import rules as rule_store
from . import convert
from .convert import MAX_POINTS

SCOPE_READ, SCOPE_GRANT, SCOPE_SPEND = "points:read", "points:grant", "points:spend"
SCOPE_ADJUST, SCOPE_ADMIN = "points:adjust", "points:admin"


class PointsApi(pb_grpc.PointsServiceServicer):
    def __init__(self, deps: Deps[PointsSettings], ledger: Ledger) -> None:
        self.pool = deps.pool
        self.ledger = ledger

    async def _balance(self, conn, member_id: uuid.UUID) -> res.Balance:
        return await self.ledger.balance(conn, member_id)

    # --- reading --------------------------------------------------------------------------
    async def GetBalance(self, request, context):
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        v.raise_if_any()
        auth.require_member_or_scope(str(member_id), SCOPE_READ)
        async with self.pool.acquire() as conn:
            return pb.GetBalanceResponse(balance=await self._balance(conn, member_id))

    async def ListLedgerEntries(self, request, context):
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        kind = convert.entry_kind_filter(v, request.kind)
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
        size = paging.size(request.page_size)
        before = paging.cursor(request.page_token, query, int)
        async with self.pool.acquire() as conn:
            if await members.get(conn, member_id) is None:
                raise errors.not_found("member", str(member_id))
            rows = await journal.history(
                conn, member_id, kind=kind, start=start, end=end, before=before, limit=size + 1
            )
        rows, token = paging.page(rows, size, query, key=lambda row: row["posting_id"])
        return pb.ListLedgerEntriesResponse(
            entries=[convert.entry_proto(r) for r in rows], next_page_token=token
        )

    async def GetHold(self, request, context):
        v = Violations()
        hold_id = v.uuid("hold_id", request.hold_id, "a hold id")
        v.raise_if_any()
        principal = auth.require_owner_or_scope(SCOPE_READ)
        async with self.pool.acquire() as conn:
            hold = await holds.get(conn, hold_id)
        if hold is None or not principal.owns(hold["member_id"]):
            raise errors.not_found("hold", str(hold_id))
        return pb.GetHoldResponse(hold=convert.hold_proto(hold))

    # --- earning --------------------------------------------------------------------------
    async def SignIn(self, request, context):
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
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

        return await idempotency.once(self.pool, request, work)

    async def Grant(self, request, context):
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        v.text("rule_code", request.rule_code, maximum=64)
        if request.HasField("points"):
            convert.check_points(v, "points", request.points)
        v.text("reference", request.reference, maximum=128, required=False)
        convert.check_merchant(v, "merchant_id", request.merchant_id, required=False)
        v.raise_if_any()
        auth.require_scope(SCOPE_GRANT)

        async def work(conn):
            rule = await self.ledger.rules.current(conn, request.rule_code, self.ledger.now())
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
            writes = Writes()
            posted = await self.ledger.earn(
                conn,
                member_id,
                rule,
                amount,
                reference=request.reference,
                merchant_id=request.merchant_id,
                writes=writes,
            )
            return _settled(
                pb.GrantResponse(
                    transaction_id=str(posted.txn_id),
                    points=posted.points,
                    expire_time=timestamps.to_proto(posted.expires_at),
                ),
                writes,
            )

        return await idempotency.once(self.pool, request, work)

    # --- spending -------------------------------------------------------------------------
    async def ReserveHold(self, request, context):
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        v.text("order_id", request.order_id, maximum=128)
        convert.check_points(v, "points", request.points)
        v.check(request.order_amount_minor > 0, "order_amount_minor", "must be positive")
        v.raise_if_any()
        auth.require_member_or_scope(str(member_id), SCOPE_SPEND)

        async def work(conn):
            writes = Writes()
            hold = await self.ledger.reserve(
                conn,
                member_id,
                request.order_id,
                request.points,
                request.order_amount_minor,
                writes=writes,
            )
            return _settled(pb.ReserveHoldResponse(hold=convert.hold_proto(hold)), writes)

        return await idempotency.once(self.pool, request, work)

    async def CaptureHold(self, request, context):
        v = Violations()
        hold_id = v.uuid("hold_id", request.hold_id, "a hold id")
        v.raise_if_any()
        auth.require_scope(SCOPE_SPEND)

        async def work(conn):
            writes = Writes()
            txn_id, hold = await self.ledger.capture(conn, hold_id, writes=writes)
            return _settled(
                pb.CaptureHoldResponse(transaction_id=str(txn_id), hold=convert.hold_proto(hold)),
                writes,
            )

        return await idempotency.once(self.pool, request, work)

    async def ReleaseHold(self, request, context):
        v = Violations()
        hold_id = v.uuid("hold_id", request.hold_id, "a hold id")
        v.raise_if_any()
        principal = auth.require_owner_or_scope(SCOPE_SPEND)

        async def work(conn):
            found = await holds.get(conn, hold_id)
            if found is None or not principal.owns(found["member_id"]):
                raise errors.not_found("hold", str(hold_id))
            hold = await self.ledger.release(conn, hold_id)
            return pb.ReleaseHoldResponse(
                hold=convert.hold_proto(hold), balance=await self._balance(conn, hold["member_id"])
            )

        return await idempotency.once(self.pool, request, work)

    async def Redeem(self, request, context):
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        convert.check_points(v, "points", request.points)
        v.text("catalogue_item", request.catalogue_item, maximum=128)
        v.text("reference", request.reference, maximum=128, required=False)
        v.raise_if_any()
        auth.require_member_or_scope(str(member_id), SCOPE_SPEND)

        async def work(conn):
            writes = Writes()
            posted = await self.ledger.redeem(
                conn,
                member_id,
                request.points,
                request.catalogue_item,
                request.reference,
                writes=writes,
            )
            return _settled(pb.RedeemResponse(transaction_id=str(posted.txn_id)), writes)

        return await idempotency.once(self.pool, request, work)

    # --- operators ------------------------------------------------------------------------
    async def Adjust(self, request, context):
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        v.check(request.delta != 0, "delta", "must not be 0")
        v.check(abs(request.delta) <= MAX_POINTS, "delta", f"at most {MAX_POINTS} either way")
        v.text("reason", request.reason, maximum=256)
        v.raise_if_any()
        auth.require_scope(SCOPE_ADJUST)

        async def work(conn):
            rule = await self.ledger.rules.current(
                conn, rules_domain.CODE_OPERATOR_ADJUST, self.ledger.now()
            )
            if rule is None:
                raise errors.not_found("rule", rules_domain.CODE_OPERATOR_ADJUST)
            writes = Writes()
            posted = await self.ledger.adjust(
                conn, member_id, request.delta, request.reason.strip(), rule, writes=writes
            )
            return _settled(pb.AdjustResponse(transaction_id=str(posted.txn_id)), writes)

        return await idempotency.once(self.pool, request, work)

    async def TopUpMerchantBudget(self, request, context):
        v = Violations()
        convert.check_merchant(v, "merchant_id", request.merchant_id)
        convert.check_points(v, "points", request.points)
        v.raise_if_any()
        auth.require_scope(SCOPE_ADMIN)

        async def work(conn):
            txn_id = await self.ledger.top_up(conn, request.merchant_id, request.points)
            row = await budgets.get(conn, request.merchant_id)
            return pb.TopUpMerchantBudgetResponse(
                transaction_id=str(txn_id),
                budget=res.MerchantBudget(merchant_id=row["merchant_id"], balance=row["balance"]),
            )

        return await idempotency.once(self.pool, request, work)

    async def GetMerchantBudget(self, request, context):
        v = Violations()
        convert.check_merchant(v, "merchant_id", request.merchant_id)
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
        rule = convert.rule_from_proto(request.rule)
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
                author=principal.label,
            )
            await audit.record(
                conn,
                actor=principal.label,
                action="points.rule_upsert",
                subject=stored.rule_code,
                detail={"rule_code": stored.rule_code, "version": stored.version},
            )
            return pb.UpsertEarningRuleResponse(rule=convert.rule_proto(stored))

        response = await idempotency.once(self.pool, request, work)
        self.ledger.rules.forget(rule.rule_code)  # committed: this replica applies it at once
        return response

    async def GetEarningRule(self, request, context):
        v = Violations()
        v.text("rule_code", request.rule_code, maximum=64)
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
        return pb.GetEarningRuleResponse(rule=convert.rule_proto(rule))

    async def ListEarningRules(self, request, context):
        size = paging.size(request.page_size)
        auth.require_scope(SCOPE_READ)
        after = paging.cursor(request.page_token, {})
        async with self.pool.acquire() as conn:
            found = await rule_store.list_current(conn, self.ledger.now(), after, size + 1)
        found, token = paging.page(found, size, {}, key=lambda rule: rule.rule_code)
        return pb.ListEarningRulesResponse(
            rules=[convert.rule_proto(r) for r in found], next_page_token=token
        )


def _settled(response, writes: Writes) -> idempotency.Pending:
    """A write's response with the member's balance after it, its writes still to be sent
    (with the stored response, in one round trip)."""
    response.balance.CopyFrom(writes.balance())
    return idempotency.Pending(response, writes)
