"""Rule sets: the default installed once, the active one read (cached per version: a version is
never rewritten)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import asyncpg

from services.kit import errors

from ..api.rules_convert import rule_set_from_json, rule_set_to_json
from ..deps import GrowthDeps
from ..domain.defaults import DEFAULT_RULES
from ..domain.rules import RuleSet
from ..store import rules as store


@dataclass
class Rules:
    deps: GrowthDeps
    # parsed once per stored body (a test may truncate and reuse a version number)
    _parsed: dict[tuple[int, str], RuleSet] = field(default_factory=dict)

    async def ensure_default(self, pool: asyncpg.Pool) -> None:
        await store.add_first(pool, rule_set_to_json(DEFAULT_RULES), "system", self.deps.now())

    def _rules(self, row: asyncpg.Record) -> RuleSet:
        body = row["body"]
        text = json.dumps(body, sort_keys=True)
        key = (row["version"], text)
        if key not in self._parsed:
            self._parsed[key] = rule_set_from_json(json.loads(text))
        return self._parsed[key]

    async def active(self, conn: asyncpg.Connection | asyncpg.Pool) -> RuleSet:
        row = await store.active(conn)
        if row is None:
            raise errors.unavailable("NO_ACTIVE_RULE_SET", "no rule set is active yet")
        return self._rules(row)

    async def version(self, conn: asyncpg.Connection | asyncpg.Pool, version: int) -> RuleSet:
        row = await store.get(conn, version)
        if row is None:
            raise errors.not_found("rule_set")
        return self._rules(row)
