"""The growth resources a member's RPCs answer with, built from the domain and the use cases'
views: one builder per message, so every RPC shows a member's growth, a score or a fact alike."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from loyalty.growth.v1 import resources_pb2 as res
from services.kit.timestamps import to_proto

from ..domain import facts as f
from ..domain.advice import Advice, advice_text
from ..domain.badges import Badge
from ..domain.benefits import CurrentBenefit, Source, entitlement
from ..domain.rules import Benefit, BenefitKind, Component, RuleSet, Tier
from ..domain.score import ComponentScore
from ..domain.tiers import next_tier, tier_for
from ..store.members import RecordedFact
from .rules_wire import TIERS, rule_set_to_proto

if TYPE_CHECKING:  # the use cases import the API's conversions (rules_convert)
    from ..usecases.members import Explanation, Growth, ProvisionalView, SettledView

# Domain members → proto values, by name (Tier.GOLD → TIER_GOLD), typed as the proto's.
_TIERS = {t: res.Tier.Value(f"TIER_{t.name}") for t in Tier}
_COMPONENTS = {c: res.Component.Value(f"COMPONENT_{c.name}") for c in Component}
_BENEFIT_KINDS = {k: res.BenefitKind.Value(f"BENEFIT_KIND_{k.name}") for k in BenefitKind}
_ACTIVITY_KINDS = {k: res.ActivityKind.Value(f"ACTIVITY_KIND_{k.name}") for k in f.ActivityKind}
# The FactKind enum names the domain's kinds by their values (REPUTATION_ASSESSED).
FACT_KINDS = {kind: res.FactKind.Value(f"FACT_KIND_{kind.value.upper()}") for kind in f.FactKind}
_SOURCES = {Source.TIER: res.BENEFIT_SOURCE_TIER, Source.BADGE: res.BENEFIT_SOURCE_BADGE}
_KIND_ORDER = list(f.FactKind)


def tier_proto(tier: Tier | None) -> res.Tier.ValueType:
    return _TIERS[tier] if tier is not None else res.TIER_UNSPECIFIED


def component_values(
    values: Iterable[tuple[Component, int]], rules: RuleSet
) -> list[res.ComponentValue]:
    """In Component order, each with its cap under `rules`."""
    found = dict(values)
    return [
        res.ComponentValue(component=_COMPONENTS[c], value=found.get(c, 0), cap=rules.limit(c).cap)
        for c in Component
    ]


def badge_protos(held: Iterable[Badge]) -> list[res.MemberBadge]:
    return [res.MemberBadge(category=b.category, level=b.level) for b in held]


def benefit_proto(b: Benefit) -> res.Benefit:
    return res.Benefit(
        code=b.code,
        kind=_BENEFIT_KINDS[b.kind],
        high_cost=b.high_cost,
        monthly_quantity=b.monthly_quantity,
    )


def current_benefit_proto(c: CurrentBenefit) -> res.CurrentBenefit:
    return res.CurrentBenefit(
        benefit=benefit_proto(c.benefit), source=_SOURCES[c.source], source_detail=c.source_detail
    )


def member_growth_proto(g: Growth) -> res.MemberGrowth:
    member, latest, rules = g.member, g.latest, g.rules
    above = next_tier(member.tier)
    msg = res.MemberGrowth(
        member_id=str(member.member_id),
        tier=tier_proto(member.tier),
        badges=badge_protos(g.badges),
        benefits=[current_benefit_proto(c) for c in g.entitlement.benefits],
        gated_benefit_codes=g.entitlement.gated,
        risk_gated=g.risk_gated,
        tier_time=to_proto(g.tier_time),
        next_tier=tier_proto(above),
        next_tier_min_score=rules.band_min(above) if above else 0,
        months_below=member.months_below,
        update_time=to_proto(g.update_time),
    )
    if latest is not None and g.latest_rules is not None:
        msg.score = latest.score
        msg.period = latest.period
        msg.rule_set_version = latest.rule_set_version
        msg.components.extend(component_values(latest.values, g.latest_rules))
    return msg


def settled_proto(s: SettledView) -> res.SettledScore:
    row = s.row
    return res.SettledScore(
        member_id=str(row.member_id),
        period=row.period,
        score=row.score,
        components=component_values(row.values, s.rules),
        previous_tier=tier_proto(row.tier_before),
        tier=tier_proto(row.tier),
        badges=badge_protos(s.badges),
        risk_gated=row.risk_gated,
        rule_set_version=row.rule_set_version,
        settle_time=to_proto(row.settle_time),
    )


def provisional_proto(p: ProvisionalView) -> res.ProvisionalScore:
    result = p.result
    s = result.score
    return res.ProvisionalScore(
        member_id=str(p.member_id),
        score=s.total,
        components=[
            res.ComponentValue(component=_COMPONENTS[c.component], value=c.value, cap=c.cap)
            for c in s.components
        ],
        score_tier=tier_proto(tier_for(s.total, p.rules.bands)),
        tier=tier_proto(p.tier),
        tier_raised=p.raised,
        risk_gated=not result.passes_risk_gate,
        rule_set_version=result.ruleset_version,
        window_start_time=to_proto(s.window.start),
        compute_time=to_proto(s.at),
    )


def fact_proto(recorded: RecordedFact) -> res.Fact:
    fact = recorded.fact
    msg = res.Fact(
        key=fact.key,
        member_id=fact.member_id,
        kind=FACT_KINDS[fact.kind],
        source_id=fact.source_id,
        occur_time=to_proto(fact.occurred_at),
        record_time=to_proto(recorded.recorded_at),
    )
    if isinstance(fact, f.OrderPaid):
        msg.currency_code = fact.currency
        msg.platform_paid_minor = fact.platform_paid_minor
        msg.lines.extend(
            res.FactLine(line_id=x.line_id, category=x.category, amount_minor=x.paid_minor)
            for x in fact.lines
        )
    elif isinstance(fact, f.OrderRefunded):
        msg.currency_code = fact.currency
        msg.order_id = fact.order_id
        msg.lines.extend(
            res.FactLine(line_id=x.line_id, amount_minor=x.amount_minor) for x in fact.lines
        )
    elif isinstance(fact, f.Activity):
        msg.activity = _ACTIVITY_KINDS[fact.activity]
    elif isinstance(fact, f.AccountLinked | f.AccountUnlinked):
        msg.provider = fact.provider
    elif isinstance(fact, f.ProfileSnapshot):
        msg.filled_fields.extend(sorted(fact.filled))
    elif isinstance(fact, f.ReputationAssessed | f.CreditReported):
        msg.score = fact.score
    return msg


def _breakdown(
    c: ComponentScore, rules: RuleSet, facts: dict[str, RecordedFact]
) -> res.ComponentBreakdown:
    shown = sorted(
        (facts[key] for key in c.facts if key in facts),
        key=lambda r: (_KIND_ORDER.index(r.fact.kind), *r.fact.order),
    )
    return res.ComponentBreakdown(
        component=_COMPONENTS[c.component],
        value=c.value,
        raw=c.raw,
        cap=c.cap,
        weight_bp=rules.limit(c.component).weight_bp,
        parts=[res.ScorePart(name=p.name, input=p.input, points=p.points) for p in c.parts],
        facts=[fact_proto(r) for r in shown],
    )


def advice_proto(a: Advice, currency: str) -> res.Advice:
    return res.Advice(
        target_tier=tier_proto(a.target),
        points_short=a.points_short,
        extra_spend_minor=a.extra_spend_minor,
        months=a.months,
        deadline_time=to_proto(a.deadline),
        one_offs=[res.OneOff(action=o.action, points=o.points) for o in a.one_offs],
        text=advice_text(a, currency),
    )


def explanation_proto(e: Explanation) -> res.ScoreExplanation:
    s, rules = e.score, e.rules
    return res.ScoreExplanation(
        member_id=str(e.member_id),
        provisional=e.period is None,
        period=e.period or "",
        rule_set_version=rules.version,
        window_start_time=to_proto(s.window.start),
        window_end_time=to_proto(s.window.end),
        score=s.total,
        score_tier=tier_proto(tier_for(s.total, rules.bands)),
        components=[_breakdown(c, rules, e.facts) for c in s.components],
        categories=[
            res.CategoryTotal(category=t.category, net_minor=t.net_minor, orders=t.orders)
            for t in s.categories
        ],
        earliest_counted_time=to_proto(s.earliest_counted),
        risk_standing=s.risk_standing,
        risk_gated=e.risk_gated,
        advice=advice_proto(e.advice, rules.currency) if e.advice else None,
    )


def tier_table_proto(rules: RuleSet) -> res.TierTable:
    whole = rule_set_to_proto(rules)
    packs = {TIERS[p.tier]: p for p in whole.gift_packs}
    tiers = []
    bands = list(rules.bands)
    for i, band in enumerate(bands):
        # What the tier gives before the gate: a standing at the threshold passes it.
        offered = entitlement(band.tier, (), rules.risk.threshold, rules)
        tiers.append(
            res.TierInfo(
                tier=tier_proto(band.tier),
                min_score=band.min_score,
                next_min_score=bands[i + 1].min_score if i + 1 < len(bands) else 0,
                benefits=[benefit_proto(c.benefit) for c in offered.benefits],
                gift_pack=packs.get(band.tier),
            )
        )
    return res.TierTable(
        rule_set_version=rules.version,
        currency=rules.currency,
        tiers=tiers,
        badges=whole.badges,
        badge_offers=whole.badge_offers,
    )
