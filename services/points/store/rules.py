"""Earning rules: versioned rows; the version in effect is the newest already effective."""

from __future__ import annotations

import datetime as dt
import time

from ..domain.rules import EarningRule, StreakBonus
from .locks import LOCK_RULE

RULE_COLUMNS = (
    "rule_code, version, kind, points, daily_cap, period_cap, period_days, streak_bonus,"
    " merchant_funded, enabled, effective_at"
)


def to_rule(row) -> EarningRule:
    return EarningRule(
        rule_code=row["rule_code"],
        kind=row["kind"],
        version=row["version"],
        points=row["points"],
        daily_cap=row["daily_cap"],
        period_cap=row["period_cap"],
        period_days=row["period_days"],
        streak_bonus=tuple(StreakBonus(b["day"], b["bonus"]) for b in row["streak_bonus"]),
        merchant_funded=row["merchant_funded"],
        enabled=row["enabled"],
        effective_at=row["effective_at"],
    )


async def current(conn, rule_code: str, now: dt.datetime) -> EarningRule | None:
    row = await conn.fetchrow(
        f"SELECT {RULE_COLUMNS} FROM earning_rules WHERE rule_code = $1 AND effective_at <= $2"
        " ORDER BY version DESC LIMIT 1",
        rule_code,
        now,
    )
    return to_rule(row) if row else None


class Cache:
    """The rule versions in effect, kept in the process for `seconds`: earning reads a rule on
    every credit, and rules change rarely. A change made through this process is seen at once
    (`forget`); one made through another replica within `seconds`. Versions that become
    effective later are kept too, so a version starts to apply on time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # rule code -> (read at monotonic time, for `now`, versions: the one in effect then and
        # every later-effective one, newest first)
        self._entries: dict[str, tuple[float, dt.datetime, list[EarningRule]]] = {}

    async def current(self, conn, rule_code: str, now: dt.datetime) -> EarningRule | None:
        entry = self._entries.get(rule_code)
        if entry is None or time.monotonic() - entry[0] > self.seconds or now < entry[1]:
            entry = (time.monotonic(), now, await _in_effect_from(conn, rule_code, now))
            if self.seconds > 0:
                self._entries[rule_code] = entry
        # (A stored version always has its effective_at: the column is NOT NULL.)
        effective = (r for r in entry[2] if r.effective_at is not None and r.effective_at <= now)
        return next(effective, None)

    def forget(self, rule_code: str | None = None) -> None:
        """Read `rule_code` (every rule when None) from the database next time."""
        if rule_code is None:
            self._entries.clear()
        else:
            self._entries.pop(rule_code, None)


async def _in_effect_from(conn, rule_code: str, now: dt.datetime) -> list[EarningRule]:
    rows = await conn.fetch(
        f"SELECT {RULE_COLUMNS} FROM earning_rules WHERE rule_code = $1 AND (effective_at > $2"
        "  OR version = (SELECT max(version) FROM earning_rules"
        "                WHERE rule_code = $1 AND effective_at <= $2))"
        " ORDER BY version DESC",
        rule_code,
        now,
    )
    return [to_rule(r) for r in rows]


async def version(conn, rule_code: str, number: int) -> EarningRule | None:
    row = await conn.fetchrow(
        f"SELECT {RULE_COLUMNS} FROM earning_rules WHERE rule_code = $1 AND version = $2",
        rule_code,
        number,
    )
    return to_rule(row) if row else None


async def latest(conn, rule_code: str) -> EarningRule | None:
    """The newest version, effective or not (the next version is numbered after it)."""
    row = await conn.fetchrow(
        f"SELECT {RULE_COLUMNS} FROM earning_rules WHERE rule_code = $1"
        " ORDER BY version DESC LIMIT 1",
        rule_code,
    )
    return to_rule(row) if row else None


async def lock_code(conn, rule_code: str) -> None:
    """Serialise versioning of one rule code, so two changes never take the same number."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_RULE, rule_code)


async def insert(conn, rule: EarningRule, author: str) -> EarningRule:
    row = await conn.fetchrow(
        "INSERT INTO earning_rules (rule_code, version, kind, points, daily_cap, period_cap,"
        " period_days, streak_bonus, merchant_funded, enabled, effective_at, author)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {RULE_COLUMNS}",
        rule.rule_code,
        rule.version,
        rule.kind,
        rule.points,
        rule.daily_cap,
        rule.period_cap,
        rule.period_days,
        [{"day": b.day, "bonus": b.bonus} for b in rule.streak_bonus],
        rule.merchant_funded,
        rule.enabled,
        rule.effective_at,
        author,
    )
    return to_rule(row)


async def list_current(conn, now: dt.datetime, after: str | None, limit: int) -> list[EarningRule]:
    """The version in effect of every rule code, by code; rules not yet effective are left out."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (rule_code) {RULE_COLUMNS} FROM earning_rules"
        " WHERE effective_at <= $1 AND ($2::text IS NULL OR rule_code > $2)"
        " ORDER BY rule_code, version DESC LIMIT $3",
        now,
        after,
        limit,
    )
    return [to_rule(r) for r in rows]
