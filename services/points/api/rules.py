"""Earning rules: new versions, reading them back."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from services.kit import auth, errors, idempotency, paging
from services.kit.errors import Violations

from ..domain import rules as rules_domain
from ..usecases import PointsUseCases
from . import convert, scopes


class RulesApi:
    def __init__(self, pool: asyncpg.Pool, usecases: PointsUseCases) -> None:
        self.pool = pool
        self.rules = usecases.rules

    async def UpsertEarningRule(
        self, request: pb.UpsertEarningRuleRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertEarningRuleResponse:
        principal = auth.require_scope(scopes.ADMIN)
        errors.at_most(
            "rule.streak_bonus", request.rule.streak_bonus, rules_domain.MAX_STREAK_BONUSES
        )
        v = Violations()
        rule = convert.rule_from_proto(v, request.rule)
        for field, problem in rules_domain.problems(rule):
            v.add(field, problem)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.UpsertEarningRuleResponse:
            stored = await self.rules.upsert(conn, rule, author=principal.label)
            return pb.UpsertEarningRuleResponse(rule=convert.rule_proto(stored))

        response = await idempotency.once(self.pool, request, work)
        self.rules.forget(rule.rule_code)  # committed: this replica applies it at once
        return response

    async def GetEarningRule(
        self, request: pb.GetEarningRuleRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEarningRuleResponse:
        auth.require_scope(scopes.READ)
        v = Violations()
        v.text("rule_code", request.rule_code, maximum=64)
        version = request.version if request.HasField("version") else None
        if version is not None:
            v.check(version > 0, "version", "must be positive")
        v.raise_if_any()
        rule = await self.rules.get(request.rule_code, version)
        return pb.GetEarningRuleResponse(rule=convert.rule_proto(rule))

    async def ListEarningRules(
        self, request: pb.ListEarningRulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEarningRulesResponse:
        auth.require_scope(scopes.READ)
        size = paging.size(request.page_size)
        after = paging.cursor(request.page_token, {})
        found = await self.rules.in_effect(after, size + 1)
        found, token = paging.page(found, size, {}, key=lambda rule: rule.rule_code)
        return pb.ListEarningRulesResponse(
            rules=[convert.rule_proto(r) for r in found], next_page_token=token
        )
