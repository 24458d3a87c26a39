"""Rule sets: the default installed once, the active one read (cached per version: a version is
never rewritten), new versions uploaded as drafts and activated."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field

import asyncpg

from services.kit import errors

from ..api.rules_convert import rule_set_from_json
from ..api.rules_wire import rule_set_to_json
from ..deps import GrowthDeps
from ..domain.defaults import DEFAULT_RULES
from ..domain.rules import RuleSet
from ..store import rules as store


@dataclass(frozen=True)
class Version:
    """A stored version: its rules and what the table keeps beside them."""

    rules: RuleSet
    state: str  # draft | active | retired
    description: str
    created_by: str
    created_at: dt.datetime
    activated_by: str
    activated_at: dt.datetime | None
    retired_at: dt.datetime | None

    @property
    def number(self) -> int:
        return self.rules.version


@dataclass(frozen=True)
class Activated:
    version: Version
    retired: int | None  # the version it replaced


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

    def _version(self, row: asyncpg.Record) -> Version:
        return Version(
            rules=self._rules(row),
            state=row["state"],
            description=row["description"],
            created_by=row["created_by"],
            created_at=row["created_at"],
            activated_by=row["activated_by"] or "",
            activated_at=row["activated_at"],
            retired_at=row["retired_at"],
        )

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

    async def get(self, conn: asyncpg.Connection | asyncpg.Pool, version: int | None) -> Version:
        """`version`, or the active one (None); NOT_FOUND RULE_SET_NOT_FOUND."""
        row = await (store.active(conn) if version is None else store.get(conn, version))
        if row is None:
            raise errors.not_found("rule_set", "" if version is None else str(version))
        return self._version(row)

    async def page(
        self,
        conn: asyncpg.Connection | asyncpg.Pool,
        state: str | None,
        before: int | None,
        limit: int,
    ) -> list[Version]:
        return [self._version(r) for r in await store.page(conn, state, before, limit)]

    async def create(
        self, conn: asyncpg.Connection, rules: RuleSet, description: str, by: str
    ) -> Version:
        """`rules` (validated) stored as the next version, a draft, in the caller's
        transaction: the number is taken under the versions' lock, so concurrent uploads get
        consecutive versions."""
        await store.lock_versions(conn)
        number = await store.next_version(conn)
        numbered = dataclasses.replace(rules, version=number)
        row = await store.add_draft(
            conn, number, rule_set_to_json(numbered), description, by, self.deps.now()
        )
        return self._version(row)

    async def activate(self, conn: asyncpg.Connection, version: int, by: str) -> Activated:
        """`version` active from now, the active one retired, in the caller's transaction
        (which records why). NOT_FOUND RULE_SET_NOT_FOUND; FAILED_PRECONDITION
        RULE_SET_ALREADY_ACTIVE."""
        await store.lock_versions(conn)
        row = await store.get(conn, version)
        if row is None:
            raise errors.not_found("rule_set", str(version))
        if row["state"] == "active":
            error = errors.failed_precondition(
                "RULE_SET_ALREADY_ACTIVE", f"rule set {version} is already active"
            )
            error.metadata = {"version": str(version)}
            raise error
        now = self.deps.now()
        retired = await store.retire_active(conn, now)
        made = await store.make_active(conn, version, by, now)
        return Activated(self._version(made), retired)
