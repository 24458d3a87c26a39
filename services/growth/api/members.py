"""GrowthService: a member's growth, the explanation of a score, the provisional score, the
history, the facts, the tier table."""

from __future__ import annotations

import datetime as dt

import asyncpg
import grpc

from loyalty.growth.v1 import growth_service_pb2 as pb
from services.kit import auth, errors, idempotency, paging, timestamps
from services.kit.errors import Violations

from ..domain import periods
from ..domain.facts import FactKind
from . import access, views
from .base import Part

MAX_PERIOD = 7  # "YYYY-MM"
_FACT_KINDS = {wire: kind for kind, wire in views.FACT_KINDS.items()}


def _malformed_token() -> errors.AppError:
    return errors.invalid([("page_token", "malformed page token")])


def _period_cursor(raw: str | None) -> str | None:
    """The period of the last score of the previous page."""
    if raw is not None and periods.period_problem(raw):
        raise _malformed_token()
    return raw


def _fact_cursor(raw: str | None) -> tuple[dt.datetime, str] | None:
    """(occur time, key) of the last fact of the previous page."""
    if raw is None:
        return None
    at, _, key = raw.partition("\n")
    try:
        when = dt.datetime.fromisoformat(at)
        if when.tzinfo is None or not key:
            raise ValueError("a cursor has an instant with its offset, and a key")
        return when.astimezone(dt.UTC), key
    except (ValueError, OverflowError):
        raise _malformed_token() from None


def _iso(at: dt.datetime | None) -> str:
    return at.isoformat() if at else ""


class MemberGrowthApi(Part):
    async def GetMemberGrowth(
        self, request: pb.GetMemberGrowthRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemberGrowthResponse:
        member_id = access.member_target(request.member_id)
        async with self.pool.acquire() as conn:
            growth = await self.uc.members.growth(conn, member_id)
        return pb.GetMemberGrowthResponse(growth=views.member_growth_proto(growth))

    async def ExplainScore(
        self, request: pb.ExplainScoreRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExplainScoreResponse:
        member_id = access.member_target(request.member_id)
        v = Violations()
        if request.period:
            if len(request.period) > MAX_PERIOD or periods.period_problem(request.period):
                v.add("period", 'a month as "YYYY-MM"')
            elif request.provisional:
                v.add("period", "must be empty for the provisional score")
        v.raise_if_any()
        async with self.pool.acquire() as conn:
            explained = await self.uc.members.explain(
                conn, member_id, request.period or None, request.provisional
            )
        return pb.ExplainScoreResponse(explanation=views.explanation_proto(explained))

    async def ComputeProvisionalScore(
        self, request: pb.ComputeProvisionalScoreRequest, context: grpc.aio.ServicerContext
    ) -> pb.ComputeProvisionalScoreResponse:
        member_id = access.member_target(request.member_id)
        actor = auth.actor()

        async def work(conn: asyncpg.Connection) -> pb.ComputeProvisionalScoreResponse:
            computed = await self.uc.members.provisional(conn, member_id, actor)
            return pb.ComputeProvisionalScoreResponse(score=views.provisional_proto(computed))

        return await idempotency.once(self.pool, request, work, subject=member_id)

    async def ListScoreHistory(
        self, request: pb.ListScoreHistoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListScoreHistoryResponse:
        member_id = access.member_target(request.member_id)
        size = paging.size(request.page_size)
        query = {"member_id": str(member_id)}
        before = _period_cursor(paging.cursor(request.page_token, query, str))
        async with self.pool.acquire() as conn:
            found = await self.uc.members.history(conn, member_id, before, size + 1)
        found, token = paging.page(found, size, query, key=lambda s: s.row.period)
        return pb.ListScoreHistoryResponse(
            scores=[views.settled_proto(s) for s in found], next_page_token=token
        )

    async def ListMemberFacts(
        self, request: pb.ListMemberFactsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMemberFactsResponse:
        member_id = access.member_target(request.member_id)
        v = Violations()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        kind: FactKind | None = None
        if request.kind:
            kind = _FACT_KINDS.get(request.kind)
            v.check(kind is not None, "kind", "a FactKind")
        after = timestamps.field(v, request, "occur_after")
        before = timestamps.field(v, request, "occur_before")
        if after is not None and before is not None and after >= before:
            v.add("occur_after", "must be before occur_before")
        v.raise_if_any()
        size = paging.size(request.page_size)
        query = {
            "member_id": str(member_id),
            "kind": kind.value if kind else "",
            "occur_after": _iso(after),
            "occur_before": _iso(before),
        }
        cursor = _fact_cursor(paging.cursor(request.page_token, query, str))
        async with self.pool.acquire() as conn:
            found = await self.uc.members.facts(
                conn,
                member_id,
                kind=kind,
                occur_after=after,
                occur_before=before,
                cursor=cursor,
                limit=size + 1,
            )
        found, token = paging.page(
            found,
            size,
            query,
            key=lambda r: f"{r.fact.occurred_at.isoformat()}\n{r.fact.key}",
        )
        return pb.ListMemberFactsResponse(
            facts=[views.fact_proto(r) for r in found], next_page_token=token
        )

    async def GetTierTable(
        self, request: pb.GetTierTableRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTierTableResponse:
        auth.require()
        rules = await self.uc.rules.active(self.pool)
        return pb.GetTierTableResponse(table=views.tier_table_proto(rules))
