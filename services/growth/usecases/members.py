"""A member's growth read in one call, the explanation, the provisional score (raising the tier
at once under `immediate`), the history, the facts."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from loyalty.growth.v1 import events_pb2
from loyalty.growth.v1 import resources_pb2 as res
from services.kit import audit, errors

from ..deps import GrowthDeps
from ..domain import facts as f
from ..domain import periods
from ..domain.advice import Advice, advice
from ..domain.badges import Badge, badges
from ..domain.benefits import Entitlement, entitlement, passes_risk_gate
from ..domain.rules import RuleSet, Tier
from ..domain.score import Score, category_totals, score
from ..domain.settlement import MemberState, Provisional, provisional_member
from ..domain.tiers import TierState
from ..store import facts as facts_store
from ..store import members as store
from ..store.members import MemberRow, RecordedFact, ScoreRow
from .rules import Rules

_WIRE_TIERS = {tier: res.Tier.Value(f"TIER_{tier.name}") for tier in Tier}


@dataclass(frozen=True)
class Growth:
    """What GetMemberGrowth shows."""

    member: MemberRow
    latest: ScoreRow | None  # the latest settlement
    latest_rules: RuleSet | None  # the rule set it used (its caps)
    badges: tuple[Badge, ...]
    rules: RuleSet  # the active one
    entitlement: Entitlement
    risk_gated: bool
    tier_time: dt.datetime | None
    update_time: dt.datetime | None


@dataclass(frozen=True)
class Explanation:
    member_id: uuid.UUID
    period: str | None  # None: provisional
    rules: RuleSet
    score: Score
    advice: Advice | None
    facts: dict[str, RecordedFact]  # the facts the breakdown names, by key

    @property
    def risk_gated(self) -> bool:
        return not passes_risk_gate(self.score.risk_standing, self.rules)


@dataclass(frozen=True)
class ProvisionalView:
    member_id: uuid.UUID
    rules: RuleSet  # the active one, which it used
    result: Provisional
    tier: Tier  # held after the call
    raised: bool


@dataclass(frozen=True)
class SettledView:
    row: ScoreRow
    rules: RuleSet  # the version it used
    badges: tuple[Badge, ...]  # held after it


@dataclass(frozen=True)
class Members:
    deps: GrowthDeps
    rules: Rules

    async def _known(self, conn: asyncpg.Connection, member_id: uuid.UUID) -> MemberRow:
        return _served(await store.get(conn, member_id))

    async def growth(self, conn: asyncpg.Connection, member_id: uuid.UUID) -> Growth:
        async with _snapshot(conn):
            return await self._growth(conn, member_id)

    async def _growth(self, conn: asyncpg.Connection, member_id: uuid.UUID) -> Growth:
        member = await self._known(conn, member_id)
        latest = await store.latest_score(conn, member_id)
        latest_rules = await self.rules.version(conn, latest.rule_set_version) if latest else None
        held = await store.badges(conn, member_id)
        rules = await self.rules.active(conn)
        # The gate looks at the latest settled standing (none yet: nothing vouches for the
        # member) under the active rule set, whose offers the member has now.
        standing = latest.risk_standing if latest else 0
        changed = await store.tier_changed_at(conn, member_id)
        tier_time = changed or member.registered_at
        moments = [
            tier_time,
            latest.settle_time if latest else None,
            await store.rules_activated_at(conn),
        ]
        return Growth(
            member,
            latest,
            latest_rules,
            held,
            rules,
            entitlement(member.tier, held, standing, rules),
            not passes_risk_gate(standing, rules),
            tier_time,
            max((m for m in moments if m is not None), default=None),
        )

    async def explain(
        self,
        conn: asyncpg.Connection,
        member_id: uuid.UUID,
        period: str | None,
        provisional: bool,
    ) -> Explanation:
        """A settled score (`period`, or the latest when None) under the rule set it used, at
        its settlement instant; or the provisional score now under the active rule set. The
        advice is for the same instant and rules: what the next settlement after it needs."""
        async with _snapshot(conn):
            return await self._explain(conn, member_id, period, provisional)

    async def _explain(
        self,
        conn: asyncpg.Connection,
        member_id: uuid.UUID,
        period: str | None,
        provisional: bool,
    ) -> Explanation:
        await self._known(conn, member_id)
        if provisional:
            rules, at = await self.rules.active(conn), self.deps.now()
        else:
            row = await (
                store.score_of(conn, member_id, period)
                if period
                else store.latest_score(conn, member_id)
            )
            if row is None:
                raise errors.not_found("settlement", period or "")
            rules = await self.rules.version(conn, row.rule_set_version)
            at, period = row.settle_time, row.period
        book = f.FactBook.of(await facts_store.of_member(conn, member_id))
        zone = self.deps.zone
        result = score(book, rules, at, zone)
        keys = [key for c in result.components for key in c.facts]
        recorded = await store.recorded_times(conn, member_id, keys)
        by_key = {fact.key: fact for fact in book.facts}
        shown = {
            key: RecordedFact(by_key[key], recorded[key])
            for key in keys
            if key in by_key and key in recorded
        }
        return Explanation(
            member_id,
            None if provisional else period,
            rules,
            result,
            advice(book, rules, at, zone),
            shown,
        )

    async def provisional(
        self, conn: asyncpg.Connection, member_id: uuid.UUID, actor: str
    ) -> ProvisionalView:
        """The score now under the active rule set; under upgrade `immediate`, a higher tier
        than the one held raises it at once with its gift packs and events. In the caller's
        transaction, the member's row locked first: concurrent calls raise the tier once."""
        member = _served(await store.lock(conn, member_id))
        rules = await self.rules.active(conn)
        state = MemberState(
            TierState(member.tier, member.months_below),
            await store.last_gifts(conn, member_id),
            {b.category: b.level for b in await store.badges(conn, member_id)},
            member.settled_period,
        )
        now = self.deps.now()
        facts = await facts_store.of_member(conn, member_id)
        result = provisional_member(str(member_id), facts, rules, state, now, self.deps.zone)
        change = result.change
        if change is None or await self._settling(conn, member, now):
            return ProvisionalView(member_id, rules, result, member.tier, False)
        after = result.state.tier
        await store.raise_tier(conn, member_id, after.tier, after.months_below, now)
        granted = await store.add_grants(conn, result.gifts, rules.version, now)
        changed = events_pb2.GrowthTierChanged(
            member_id=str(member_id),
            previous_tier=_WIRE_TIERS[change.before],
            tier=_WIRE_TIERS[change.after],
            reason=res.TIER_CHANGE_REASON_PROVISIONAL_UP,
            period=result.period,
            score=result.score.total,
            rule_set_version=rules.version,
        )
        changed.changed_time.FromDatetime(now)
        await self.deps.outbox.add(conn, member_id, changed)
        for grant in result.gifts:
            if grant.reference not in granted:
                continue
            gift = events_pb2.GrowthGiftPackGranted(
                reference=grant.reference,
                member_id=str(member_id),
                tier=_WIRE_TIERS[grant.tier],
                period=grant.period,
                points=grant.points,
                coupons=[
                    res.GiftCoupon(code=c.code, quantity=c.quantity, value_minor=c.value_minor)
                    for c in grant.coupons
                ],
                currency_code=rules.currency,
                rule_set_version=rules.version,
            )
            gift.granted_time.FromDatetime(now)
            await self.deps.outbox.add(conn, member_id, gift)
        await audit.record(
            conn,
            actor=actor,
            action=store.TIER_RAISED,
            subject=member_id,
            detail={
                "from": change.before.value,
                "to": change.after.value,
                "score": result.score.total,
                "period": result.period,
                "rule_set_version": rules.version,
                "changed_time": now.isoformat(),
            },
        )
        return ProvisionalView(member_id, rules, result, after.tier, True)

    async def _settling(
        self, conn: asyncpg.Connection, member: MemberRow, now: dt.datetime
    ) -> bool:
        """Whether the settlement of the due period is running and has not settled the member
        yet: it settles from the state before the period (domain/settlement.py), so a tier
        raised after its instant would be taken for that state. The raise waits for it (the
        next call after the member's settlement raises it, if the score still gives more)."""
        due = periods.due_period(now, self.deps.zone)
        if member.settled_period is not None and member.settled_period >= due:
            return False
        return await store.settlement_running(conn, due)

    async def history(
        self, conn: asyncpg.Connection, member_id: uuid.UUID, before: str | None, limit: int
    ) -> list[SettledView]:
        """Settled scores, newest first, each with the badges it left (worked out again from
        the facts, which are kept: the table holds only the badges held now)."""
        async with _snapshot(conn):
            return await self._history(conn, member_id, before, limit)

    async def _history(
        self, conn: asyncpg.Connection, member_id: uuid.UUID, before: str | None, limit: int
    ) -> list[SettledView]:
        await self._known(conn, member_id)
        rows = await store.scores(conn, member_id, before, limit)
        if not rows:
            return []
        book = f.FactBook.of(await facts_store.of_member(conn, member_id))
        versions = {
            v: await self.rules.version(conn, v) for v in {r.rule_set_version for r in rows}
        }
        found = []
        for row in rows:
            rules = versions[row.rule_set_version]
            window = periods.window_ending(row.settle_time, self.deps.zone)
            totals = category_totals(book.net_orders(window, rules.currency), rules)
            found.append(SettledView(row, rules, badges(totals, rules)))
        return found

    async def facts(
        self,
        conn: asyncpg.Connection,
        member_id: uuid.UUID,
        *,
        kind: f.FactKind | None,
        occur_after: dt.datetime | None,
        occur_before: dt.datetime | None,
        cursor: tuple[dt.datetime, str] | None,
        limit: int,
    ) -> list[RecordedFact]:
        await self._known(conn, member_id)
        return await store.facts_page(
            conn,
            member_id,
            kind=kind,
            occur_after=occur_after,
            occur_before=occur_before,
            cursor=cursor,
            limit=limit,
        )


def _snapshot(conn: asyncpg.Connection) -> asyncpg.transaction.Transaction:
    """One consistent view for a read of several tables (a settlement may commit meanwhile)."""
    return conn.transaction(isolation="repeatable_read", readonly=True)


def _served(member: MemberRow | None) -> MemberRow:
    """A member growth serves: registered (identity's event arrived) and not closed."""
    if member is None or member.registered_at is None:
        raise errors.not_found("member")
    if member.closed_at is not None:
        raise errors.failed_precondition("MEMBER_CLOSED", "the member is closed")
    return member
