"""Earning rules: the versions in effect (kept in memory a while), and new versions."""

from __future__ import annotations

import datetime as dt

from services.kit import audit, errors
from services.kit.deps import Deps

from ..config import PointsSettings
from ..domain import rules as rules_domain
from ..domain.refusals import Refusal
from ..domain.rules import EarningRule
from ..store import rules as rule_store
from .accounts import refused


class Rules:
    def __init__(self, deps: Deps[PointsSettings]) -> None:
        self.deps = deps
        self.cache = rule_store.Cache(deps.settings.rule_cache_seconds)

    async def current(self, conn, rule_code: str, now: dt.datetime) -> EarningRule | None:
        """The version in effect `now`, from memory when read lately (credits ask for it)."""
        return await self.cache.current(conn, rule_code, now)

    async def required(self, conn, rule_code: str, now: dt.datetime) -> EarningRule:
        rule = await self.current(conn, rule_code, now)
        if rule is None:
            raise errors.not_found("rule", rule_code)
        return rule

    def forget(self, rule_code: str | None = None) -> None:
        """Read `rule_code` (every rule when None) from the database next time. Called once a
        change committed: forgetting earlier could keep the old version a while longer."""
        self.cache.forget(rule_code)

    async def upsert(self, conn, proposed: EarningRule, author: str) -> EarningRule:
        """Add the next version of a rule code (checked by domain.rules.problems), audited."""
        await rule_store.lock_code(conn, proposed.rule_code)
        latest = await rule_store.latest(conn, proposed.rule_code)
        version = rules_domain.next_version(latest, proposed, self.deps.now())
        if isinstance(version, Refusal):
            raise refused(version)
        stored = await rule_store.insert(conn, version, author=author)
        await audit.record(
            conn,
            actor=author,
            action="points.rule_upsert",
            subject=stored.rule_code,
            detail={"rule_code": stored.rule_code, "version": stored.version},
        )
        return stored

    async def get(self, rule_code: str, version: int | None = None) -> EarningRule:
        """A version of a rule, or the one in effect now, as stored (not this replica's memory)."""
        async with self.deps.pool.acquire() as conn:
            if version is not None:
                rule = await rule_store.version(conn, rule_code, version)
            else:
                rule = await rule_store.current(conn, rule_code, self.deps.now())
        if rule is None:
            raise errors.not_found("rule", rule_code)
        return rule

    async def in_effect(self, after: str | None, limit: int) -> list[EarningRule]:
        """The version in effect of every rule code, by code, after `after`."""
        async with self.deps.pool.acquire() as conn:
            return await rule_store.list_current(conn, self.deps.now(), after, limit)
