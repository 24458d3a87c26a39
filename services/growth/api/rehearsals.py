"""CreateRehearsal (operators, audited), GetRehearsal, ListRehearsals (growth:read or
growth:admin): a candidate rule set over the stored facts, changing nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import grpc

from loyalty.growth.v1 import growth_admin_service_pb2 as admin
from loyalty.growth.v1 import resources_pb2 as res
from services.kit import errors, idempotency, paging
from services.kit.errors import Violations

from ..domain import gifts, periods
from ..domain.rules import Tier
from ..usecases.rehearsals import figures
from . import access
from .base import Part

_STATES = {
    "running": res.REHEARSAL_STATE_RUNNING,
    "completed": res.REHEARSAL_STATE_COMPLETED,
    "failed": res.REHEARSAL_STATE_FAILED,
}
_STATE_NAMES = {v: k for k, v in _STATES.items()}


def _tier(tier: Tier) -> res.Tier.ValueType:
    return res.Tier.Value(f"TIER_{tier.name}")


def _cost(cost: gifts.GiftCost, currency: str) -> res.GiftCost:
    return res.GiftCost(
        grants=cost.grants,
        points=cost.points,
        coupons=[res.CouponCount(code=c, quantity=n) for c, n in cost.coupons.items()],
        coupon_value_minor=cost.coupon_value_minor,
        currency_code=currency,
    )


class RehearsalsApi(Part):
    async def _proto(self, conn: asyncpg.Connection, row: asyncpg.Record) -> res.Rehearsal:
        baseline = await self.uc.rules.version(conn, row["baseline_rule_set_version"])
        candidate = await self.uc.rules.version(conn, row["rule_set_version"])
        f = figures(row, baseline, candidate)
        msg = res.Rehearsal(
            rehearsal_id=str(row["rehearsal_id"]),
            rule_set_version=row["rule_set_version"],
            baseline_rule_set_version=row["baseline_rule_set_version"],
            state=_STATES[row["state"]],
            period=row["period"],
            member_count=row["members"],
            moved_up=f.moved_up,
            moved_down=f.moved_down,
            up=[res.TierCount(tier=_tier(t), members=n) for t, n in f.up.items() if n],
            down=[res.TierCount(tier=_tier(t), members=n) for t, n in f.down.items() if n],
            moves=[
                res.TierMove(from_tier=_tier(a), to_tier=_tier(b), members=n)
                for (a, b), n in f.moves.items()
            ],
            baseline_tiers=[
                res.TierCount(tier=_tier(t), members=n) for t, n in f.baseline_tiers.items()
            ],
            candidate_tiers=[
                res.TierCount(tier=_tier(t), members=n) for t, n in f.candidate_tiers.items()
            ],
            baseline_gifts=_cost(f.baseline_gifts, baseline.currency),
            candidate_gifts=_cost(f.candidate_gifts, candidate.currency),
            created_by=row["created_by"],
            failure_message=row["failure_message"],
        )
        msg.create_time.FromDatetime(row["created_at"])
        if row["completed_at"] is not None:
            msg.complete_time.FromDatetime(row["completed_at"])
        return msg

    async def CreateRehearsal(
        self, request: admin.CreateRehearsalRequest, context: grpc.aio.ServicerContext
    ) -> admin.CreateRehearsalResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        v.check(request.rule_set_version > 0, "rule_set_version", "a rule set version")
        period = request.period or periods.due_period(self.deps.now(), self.deps.zone)
        problem = periods.period_problem(period)
        v.check(problem is None, "period", problem or "")
        v.raise_if_any()
        started: list[asyncpg.Record] = []

        async def work(conn: asyncpg.Connection) -> admin.CreateRehearsalResponse:
            row = await self.uc.rehearsals.begin(
                conn, request.rule_set_version, period, principal.label
            )
            await access.record(
                conn,
                principal,
                "rehearsal.create",
                row["rehearsal_id"],
                rule_set_version=request.rule_set_version,
                period=period,
            )
            started.append(row)
            return admin.CreateRehearsalResponse(rehearsal=await self._proto(conn, row))

        response = await idempotency.once(self.pool, request, work)
        if started:  # not on a replay: that one was started by the first call
            self.uc.rehearsals.start(self.pool, started[0])
        return response

    async def GetRehearsal(
        self, request: admin.GetRehearsalRequest, context: grpc.aio.ServicerContext
    ) -> admin.GetRehearsalResponse:
        access.require_any(access.READ, access.ADMIN)
        rehearsal_id = errors.parse_uuid(request.rehearsal_id, "rehearsal_id", "a rehearsal id")
        async with self.pool.acquire() as conn:
            row = await self.uc.rehearsals.get(conn, rehearsal_id)
            return admin.GetRehearsalResponse(rehearsal=await self._proto(conn, row))

    async def ListRehearsals(
        self, request: admin.ListRehearsalsRequest, context: grpc.aio.ServicerContext
    ) -> admin.ListRehearsalsResponse:
        access.require_any(access.READ, access.ADMIN)
        v = Violations()
        v.check(request.rule_set_version >= 0, "rule_set_version", "a version, or 0 for any")
        state = _STATE_NAMES.get(request.state)
        v.check(
            request.state == res.REHEARSAL_STATE_UNSPECIFIED or state is not None,
            "state",
            "a rehearsal state, or UNSPECIFIED for any",
        )
        v.raise_if_any()
        query = {"rule_set_version": request.rule_set_version, "state": state or ""}
        size = paging.size(request.page_size)
        after = _cursor(paging.cursor(request.page_token, query))
        async with self.pool.acquire() as conn:
            rows = await self.uc.rehearsals.page(
                conn, after, size + 1, request.rule_set_version or None, state
            )
            rows, token = paging.page(
                rows,
                size,
                query,
                key=lambda r: f"{r['created_at'].isoformat()}|{r['rehearsal_id']}",
            )
            return admin.ListRehearsalsResponse(
                rehearsals=[await self._proto(conn, r) for r in rows], next_page_token=token
            )


def _cursor(raw: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    if raw is None:
        return None
    at, _, rehearsal_id = raw.partition("|")
    try:
        return dt.datetime.fromisoformat(at), uuid.UUID(rehearsal_id)
    except ValueError:
        raise errors.invalid([("page_token", "malformed page token")]) from None
