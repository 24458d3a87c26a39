"""GrowthAdminService: rule sets (create, validate, activate, read) and settlements (run or
resume, read)."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc

from loyalty.growth.v1 import growth_admin_service_pb2 as pb
from loyalty.growth.v1 import resources_pb2 as res
from services.kit import errors, idempotency, paging
from services.kit.errors import Violations
from services.kit.jobs import run_locked
from services.kit.refusals import FieldProblem

from .. import jobs
from ..domain import periods
from ..domain.rules import RuleSet
from ..store import settlement_reads
from . import access
from .admin_views import rule_set_view, settlement_view
from .base import Part
from .rules_convert import rule_set_from_proto
from .rules_wire import STATES, rule_set_to_proto

MAX_REASON = 512
MAX_VERSION = 2**31 - 1  # versions are int32 on the wire and in the table
SETTLE_WAIT_SECONDS = 0.5
_STATE_NAMES = {value: name for name, value in STATES.items() if name}


def _refuse(problems: list[FieldProblem]) -> errors.AppError:
    """INVALID_ARGUMENT naming every problem; a problem's own reason (NEGATIVE_WEIGHT, …)
    heads its description (the kit's field violations carry no reason of their own), and the
    first one is the error's reason."""
    violations = [
        (
            p.field,
            p.description if p.reason == "INVALID_ARGUMENT" else f"{p.reason}: {p.description}",
        )
        for p in problems
    ]
    reason = next((p.reason for p in problems if p.reason != "INVALID_ARGUMENT"), None)
    return errors.invalid(violations, reason or "INVALID_ARGUMENT")


def _checked(given: res.RuleSet) -> RuleSet:
    """The domain rule set of an upload (numbered 1 until stored), or INVALID_ARGUMENT."""
    built, problems = rule_set_from_proto(given, 1)
    if problems or built is None:
        raise _refuse(problems)
    return built


def _version_cursor(page_token: str, query: dict) -> int | None:
    after = paging.cursor(page_token, query, int)
    if after is not None and not 1 <= after <= MAX_VERSION:
        raise errors.invalid([("page_token", "malformed page token")])
    return after


class RuleSetsApi(Part):
    async def CreateRuleSet(
        self, request: pb.CreateRuleSetRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateRuleSetResponse:
        principal = access.require_any(access.ADMIN)
        built = _checked(request.rule_set)
        description = request.rule_set.description

        async def work(conn: asyncpg.Connection) -> pb.CreateRuleSetResponse:
            made = await self.uc.rules.create(conn, built, description, principal.label)
            await access.record(
                conn,
                principal,
                "rule_set.create",
                f"rule_set:{made.number}",
                version=made.number,
                description=description,
            )
            return pb.CreateRuleSetResponse(rule_set=rule_set_view(made))

        return await idempotency.once(self.pool, request, work)

    async def ValidateRuleSet(
        self, request: pb.ValidateRuleSetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateRuleSetResponse:
        access.require_any(access.READ, access.ADMIN)
        shown = rule_set_to_proto(
            _checked(request.rule_set), description=request.rule_set.description
        )
        shown.ClearField("version")  # a version is given only when stored
        return pb.ValidateRuleSetResponse(rule_set=shown)

    async def ActivateRuleSet(
        self, request: pb.ActivateRuleSetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ActivateRuleSetResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        v.check(request.version >= 1, "version", "a version, 1 or more")
        v.text("reason", request.reason, maximum=MAX_REASON)
        v.raise_if_any("REASON_REQUIRED" if v.names("reason") else "INVALID_ARGUMENT")
        version, reason = request.version, request.reason

        async def work(conn: asyncpg.Connection) -> pb.ActivateRuleSetResponse:
            done = await self.uc.rules.activate(conn, version, principal.label)
            await access.record(
                conn,
                principal,
                "rule_set.activate",
                f"rule_set:{version}",
                version=version,
                retired_version=done.retired,
                reason=reason,
            )
            return pb.ActivateRuleSetResponse(
                rule_set=rule_set_view(done.version), retired_version=done.retired or 0
            )

        return await idempotency.once(self.pool, request, work)

    async def GetRuleSet(
        self, request: pb.GetRuleSetRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetRuleSetResponse:
        access.require_any(access.READ, access.ADMIN)
        version = request.version if request.HasField("version") else None
        if version is not None and version < 1:
            raise errors.invalid([("version", "a version, 1 or more; unset for the active one")])
        found = await self.uc.rules.get(self.pool, version)
        return pb.GetRuleSetResponse(rule_set=rule_set_view(found))

    async def ListRuleSets(
        self, request: pb.ListRuleSetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRuleSetsResponse:
        access.require_any(access.READ, access.ADMIN)
        state = _STATE_NAMES.get(request.state)
        if request.state != res.RULE_SET_STATE_UNSPECIFIED and state is None:
            raise errors.invalid([("state", "a rule set state, or UNSPECIFIED for any")])
        query = {"state": state or ""}
        size = paging.size(request.page_size)
        before = _version_cursor(request.page_token, query)
        found = await self.uc.rules.page(self.pool, state, before, size + 1)
        shown, token = paging.page(found, size, query, key=lambda v: v.number)
        return pb.ListRuleSetsResponse(
            rule_sets=[rule_set_view(v) for v in shown], next_page_token=token
        )


def _period(value: str, field: str = "period") -> str:
    problem = periods.period_problem(value)
    if problem is not None:
        raise errors.invalid([(field, problem)])
    return value


class SettlementsApi(Part):
    async def RunSettlement(
        self, request: pb.RunSettlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.RunSettlementResponse:
        principal = access.require_any(access.ADMIN)
        meant = _period(request.period) if request.period else None
        begun: list[str] = []

        async def work(conn: asyncpg.Connection) -> pb.RunSettlementResponse:
            row, began = await self.uc.settlements.request(conn, meant)
            period = row["period"]
            await access.record(
                conn,
                principal,
                settlement_reads.REQUESTED.removeprefix("growth."),
                settlement_reads.subject(period),
                period=period,
                began=began,
                rule_set_version=row["rule_set_version"],
            )
            (figures,) = await self.uc.settlements.figures(conn, [row], breakdown=True)
            begun.append(period)
            return pb.RunSettlementResponse(settlement=settlement_view(figures))

        response = await idempotency.once(self.pool, request, work)
        if not begun:
            return response  # a replay: the first response, as stored
        # After the commit, apart from this call: a cancelled call must not stop the run. It
        # holds the settlement job's lock, so a replica's job and this run never settle at
        # once; when the job holds it, the job is settling this period already.
        run = self.uc.settlements.in_background(
            run_locked(self.pool, jobs.settlement_job(self.uc)), f"settlement-{begun[0]}"
        )
        # A moment for a small settlement to finish, so the answer says COMPLETED and the
        # call leaves nothing changing behind it; a large one answers RUNNING with its progress.
        await asyncio.wait({run}, timeout=SETTLE_WAIT_SECONDS)
        async with self.pool.acquire() as conn:
            row = await self.uc.settlements.get(conn, begun[0])
            (figures,) = await self.uc.settlements.figures(conn, [row], breakdown=True)
        return pb.RunSettlementResponse(settlement=settlement_view(figures))

    async def GetSettlement(
        self, request: pb.GetSettlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSettlementResponse:
        access.require_any(access.READ, access.ADMIN)
        period = _period(request.period)
        async with self.pool.acquire() as conn:
            row = await self.uc.settlements.get(conn, period)
            (figures,) = await self.uc.settlements.figures(conn, [row], breakdown=True)
        return pb.GetSettlementResponse(settlement=settlement_view(figures))

    async def ListSettlements(
        self, request: pb.ListSettlementsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSettlementsResponse:
        """Each settlement as GetSettlement shows it, but for the tiers, moves and coupons:
        those aggregate a period's scores and grants, too much for a page of periods."""
        access.require_any(access.READ, access.ADMIN)
        query: dict = {}
        size = paging.size(request.page_size)
        before = paging.cursor(request.page_token, query)
        if before is not None and periods.period_problem(before) is not None:
            raise errors.invalid([("page_token", "malformed page token")])
        async with self.pool.acquire() as conn:
            rows = await self.uc.settlements.page(conn, before, size + 1)
            rows, token = paging.page(rows, size, query, key=lambda r: r["period"])
            found = await self.uc.settlements.figures(conn, rows, breakdown=False)
        return pb.ListSettlementsResponse(
            settlements=[settlement_view(f) for f in found], next_page_token=token
        )
