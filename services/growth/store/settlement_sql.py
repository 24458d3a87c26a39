"""The set-based settlement: one statement settles a chunk of members, the SQL form of
`domain.settlement.settle_member` (property-tested against it member for member).

The statement is built per rule set: curves, caps, weights, bands and activity points become
integer literals in CASE expressions (the fastest form PostgreSQL evaluates, and safe: every
number is a validated Python int, every string a domain enum value); the parts that are lists of
records (gift packs, badge levels) and everything per run are parameters.

Arithmetic follows the domain's exactly: every product of two bounded numbers is taken in
`numeric` and floored with `div` (integer division of non-negatives), so nothing overflows a
bigint and every figure is the Python one to the point. Text that the domain orders by (source
ids) is compared with COLLATE "C", Python's code-point order.

One statement, its data-modifying parts seeing one snapshot: the member's state before (tier,
grace, badges, gift packs) is read as it was when the statement began, and the member_scores row
(primary key member + period) is what makes a member settled once: a member another run settled
meanwhile conflicts, is left out of RETURNING, and so gets no second update, gift or event.
"""

from __future__ import annotations

from functools import lru_cache

from ..domain.curves import Curve
from ..domain.facts import ActivityKind
from ..domain.rules import BASIS_POINTS, Component, DowngradePolicy, RuleSet, Tier

# Parameters of the statement, in order.
PARAMS = (
    "members",  # $1 uuid[]: the chunk (locked by the caller)
    "window_start",  # $2
    "settle_time",  # $3: the window's end, exclusive
    "period",  # $4
    "zone",  # $5
    "currency",  # $6
    "categories",  # $7 text[]
    "profile_fields",  # $8 text[]
    "gift_cutoff",  # $9: a pack granted for a later period than this is too recent
    "packs",  # $10 jsonb [{tier, rank, points, coupons}]
    "badge_levels",  # $11 jsonb [{category, level, min_spend, min_orders}]
    "rule_set_version",  # $12
    "settle_time_text",  # $13: RFC 3339, for the events
    "type_score_settled",  # $14
    "type_tier_changed",  # $15
    "type_gift_pack_granted",  # $16
    "type_badge_awarded",  # $17
    "source",  # $18
)


def _curve(c: Curve, x: str) -> str:
    """f(x) as SQL (domain/curves.py): y0 at or below 0, linear between points, flat after."""
    (x0, y0), *_ = c.points
    arms = [f"WHEN {x} <= 0 THEN {int(y0)}"]
    for (xa, ya), (xb, yb) in zip(c.points, c.points[1:], strict=False):
        arms.append(
            f"WHEN {x} <= {int(xb)} THEN {int(ya)}"
            f" + div(({x} - {int(xa)})::numeric * {int(yb - ya)}, {int(xb - xa)})"
        )
    return f"(CASE {' '.join(arms)} ELSE {int(c.top)} END)"


def rank(tier: str) -> str:
    arms = " ".join(f"WHEN '{t.value}' THEN {t.rank}" for t in Tier)
    return f"(CASE {tier} {arms} END)"


def _value(rules: RuleSet, component: Component, raw: str) -> str:
    limit = rules.limit(component)
    return f"least({int(limit.cap)}, div({raw}::numeric * {int(limit.weight_bp)}, {BASIS_POINTS}))"


def _given_tier(rules: RuleSet, score: str) -> str:
    arms = " ".join(
        f"WHEN {score} >= {int(band.min_score)} THEN '{band.tier.value}'"
        for band in sorted(rules.bands, key=lambda b: b.tier.rank, reverse=True)
    )
    return f"(CASE {arms} ELSE 'registered' END)"


def _component_json(rules: RuleSet) -> str:
    items = []
    for component in Component:
        items.append(
            f"json_build_object('component', 'COMPONENT_{component.name}',"
            f" 'value', d.{component.value}, 'cap', {int(rules.limit(component).cap)})"
        )
    return f"json_build_array({', '.join(items)})"


def _proto_tier(column: str) -> str:
    return f"'TIER_' || upper({column})"


def scoring(rules: RuleSet, x: str, p: dict[str, str]) -> str:
    """The CTEs (named with the prefix `x`) that score a chunk under `rules`, ending in
    `{x}decided` (per member: the state before, the components, the score, the risk gate, the
    tier after and the grace after) and `{x}categories` (the rule set's categories' totals).
    `p` names the placeholders of the chunk, the window and the rule set's lists."""
    a, c, risk = rules.account, rules.consumption, rules.risk
    points = " ".join(
        f"WHEN '{kind.value}' THEN {int(rules.activity.points_for(kind))}" for kind in ActivityKind
    )
    never = "true" if rules.policy.downgrade is DowngradePolicy.NEVER else "false"
    grace = int(rules.policy.grace_months)
    return f"""
{x}chunk AS (
    SELECT member_id, tier AS tier_before, months_below, score AS previous_score
    FROM members
    WHERE member_id BETWEEN {p["lo"]} AND {p["hi"]} AND member_id = ANY({p["members"]})
), {x}refunded AS (
    SELECT rl.member_id, rl.order_id, rl.line_id, sum(rl.amount_minor) AS back
    FROM refunds r JOIN refund_lines rl USING (member_id, refund_id)
    WHERE rl.member_id BETWEEN {p["lo"]} AND {p["hi"]}
      AND r.member_id BETWEEN {p["lo"]} AND {p["hi"]}
      AND r.occurred_at < {p["end"]} AND r.currency = {p["currency"]}
    GROUP BY 1, 2, 3
), {x}lines AS MATERIALIZED (
    -- each line of the window's orders, net of what was refunded of it (never below 0)
    SELECT l.member_id, l.order_id, l.category, o.paid_minor, o.platform_paid_minor,
           greatest(0, l.paid_minor - coalesce(f.back, 0)::bigint) AS net
    FROM orders o
    JOIN order_lines l USING (member_id, order_id)
    LEFT JOIN {x}refunded f
           ON f.member_id = l.member_id AND f.order_id = l.order_id AND f.line_id = l.line_id
    WHERE l.member_id BETWEEN {p["lo"]} AND {p["hi"]}
      AND o.member_id BETWEEN {p["lo"]} AND {p["hi"]}
      AND o.occurred_at >= {p["start"]} AND o.occurred_at < {p["end"]}
      AND o.currency = {p["currency"]}
), {x}by_order AS (
    -- the order's own columns are the same on each of its lines (min picks that value)
    SELECT member_id, sum(net) AS net,
           CASE WHEN min(paid_minor) > 0
                THEN div(min(platform_paid_minor)::numeric * sum(net), min(paid_minor))
                ELSE 0 END AS platform
    FROM {x}lines GROUP BY member_id, order_id
), {x}spent AS (
    SELECT member_id, sum(net) AS net, count(*) FILTER (WHERE net > 0) AS orders,
           sum(platform) AS platform
    FROM {x}by_order GROUP BY 1
), {x}order_cats AS (
    SELECT member_id, category, order_id, sum(net) AS net FROM {x}lines
    WHERE category = ANY({p["categories"]}) GROUP BY 1, 2, 3
), {x}categories AS (
    SELECT member_id, category, sum(net) AS net, count(*) FILTER (WHERE net > 0) AS orders
    FROM {x}order_cats GROUP BY 1, 2 HAVING sum(net) > 0
), {x}breadth AS (
    SELECT member_id, count(*) AS n FROM {x}categories GROUP BY 1
), {x}activity_months AS (
    SELECT member_id, sum(CASE kind {points} ELSE 0 END) AS points
    FROM activities
    WHERE member_id BETWEEN {p["lo"]} AND {p["hi"]}
      AND occurred_at >= {p["start"]} AND occurred_at < {p["end"]}
    GROUP BY member_id, date_trunc('month', occurred_at AT TIME ZONE {p["zone"]})
), {x}activity AS (
    SELECT member_id, sum(least({int(rules.activity.monthly_cap)}, points)) AS raw
    FROM {x}activity_months GROUP BY 1
), {x}verified AS (
    SELECT DISTINCT member_id FROM standings
    WHERE member_id BETWEEN {p["lo"]} AND {p["hi"]}
      AND kind = 'verified' AND occurred_at < {p["end"]}
), {x}links AS (
    SELECT member_id, count(*) FILTER (WHERE kind = 'account_linked') AS n
    FROM (SELECT DISTINCT ON (member_id, provider) member_id, kind FROM standings
          WHERE member_id BETWEEN {p["lo"]} AND {p["hi"]} AND occurred_at < {p["end"]}
            AND kind IN ('account_linked', 'account_unlinked')
          ORDER BY member_id, provider, occurred_at DESC, source_id COLLATE "C" DESC,
                   kind DESC) latest
    GROUP BY 1
), {x}profile AS (
    SELECT DISTINCT ON (member_id) member_id,
           (SELECT count(DISTINCT x) FROM unnest(filled) x WHERE x = ANY({p["profile_fields"]})) AS n
    FROM standings
    WHERE member_id BETWEEN {p["lo"]} AND {p["hi"]}
      AND kind = 'profile' AND occurred_at < {p["end"]}
    ORDER BY member_id, occurred_at DESC, source_id COLLATE "C" DESC
), {x}judgements AS (
    SELECT DISTINCT ON (member_id, kind) member_id, kind, score FROM standings
    WHERE member_id BETWEEN {p["lo"]} AND {p["hi"]}
      AND occurred_at >= {p["start"]} AND occurred_at < {p["end"]}
      AND kind IN ('reputation_assessed', 'credit_reported')
    ORDER BY member_id, kind, occurred_at DESC, source_id COLLATE "C" DESC
), {x}raws AS (
    SELECT ch.*,
           (CASE WHEN v.member_id IS NULL THEN 0 ELSE {int(a.verified)} END)
             + {_curve(a.linked, "coalesce(l.n, 0)")}
             + {_curve(a.profile, "coalesce(p.n, 0)")} AS account_raw,
           {_curve(c.spend, "coalesce(s.net, 0)")}
             + {_curve(c.orders, "coalesce(s.orders, 0)")}
             + {_curve(c.breadth, "coalesce(b.n, 0)")}
             + {_curve(c.platform, "coalesce(s.platform, 0)")} AS consumption_raw,
           coalesce(act.raw, 0) AS activity_raw,
           CASE WHEN rep.score IS NULL THEN 0
                ELSE {_curve(risk.reputation, "rep.score")} END AS reputation_raw,
           CASE WHEN cre.score IS NULL THEN 0
                ELSE {_curve(risk.credit, "cre.score")} END AS credit_raw
    FROM {x}chunk ch
    LEFT JOIN {x}verified v USING (member_id)
    LEFT JOIN {x}links l USING (member_id)
    LEFT JOIN {x}profile p USING (member_id)
    LEFT JOIN {x}spent s USING (member_id)
    LEFT JOIN {x}breadth b USING (member_id)
    LEFT JOIN {x}activity act USING (member_id)
    LEFT JOIN {x}judgements rep ON rep.member_id = ch.member_id AND rep.kind = 'reputation_assessed'
    LEFT JOIN {x}judgements cre ON cre.member_id = ch.member_id AND cre.kind = 'credit_reported'
), {x}vals AS MATERIALIZED (
    -- computed once per member: inlined, every later mention of a value (the score in each
    -- band's test, the given tier in each policy arm) would repeat every curve
    SELECT member_id, tier_before, months_below, previous_score,
           {_value(rules, Component.ACCOUNT, "account_raw")}::int AS account,
           {_value(rules, Component.CONSUMPTION, "consumption_raw")}::int AS consumption,
           {_value(rules, Component.ACTIVITY, "activity_raw")}::int AS activity,
           {_value(rules, Component.REPUTATION, "reputation_raw")}::int AS reputation,
           {_value(rules, Component.CREDIT, "credit_raw")}::int AS credit
    FROM {x}raws
), {x}scores AS (
    SELECT *, account + consumption + activity + reputation + credit AS score,
           reputation + credit < {int(risk.threshold)} AS risk_gated
    FROM {x}vals
), {x}given AS MATERIALIZED (
    SELECT *, {rank("tier_before")} AS held_rank,
           {_given_tier(rules, "score")} AS given_tier
    FROM {x}scores
), {x}decided AS (
    SELECT *,
           CASE WHEN {rank("given_tier")} > held_rank THEN given_tier
                WHEN {rank("given_tier")} = held_rank OR {never} THEN tier_before
                WHEN months_below + 1 <= {grace} THEN tier_before
                ELSE given_tier END AS tier_after,
           CASE WHEN {rank("given_tier")} >= held_rank OR {never} THEN 0
                WHEN months_below + 1 <= {grace} THEN months_below + 1
                ELSE 0 END AS months_after
    FROM {x}given
)"""


# A UUIDv7 per event (time-ordered, as the kit's ids.new_id), inline: a function call per row
# cost more than building the event.
_UUID7 = """encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
    substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"""

# The placeholders of the settlement statement's scoring part: the chunk's members, and the
# range they span, which the facts are read by (index range scans).
_SETTLE = {
    "members": "$1::uuid[]",
    "lo": "$19::uuid",
    "hi": "$20::uuid",
    "start": "$2",
    "end": "$3",
    "zone": "$5",
    "currency": "$6",
    "categories": "$7::text[]",
    "profile_fields": "$8::text[]",
}


@lru_cache(maxsize=16)
def statement(rules: RuleSet) -> str:
    """The chunk statement for `rules` (cached: a settlement runs thousands of chunks)."""
    x = "s_"
    return (
        "WITH "
        + scoring(rules, x, _SETTLE)
        + f""", scored AS (
    INSERT INTO member_scores (member_id, period, score, account, consumption, activity,
                               reputation, credit, tier_before, tier, months_below, risk_gated,
                               rule_set_version, settle_time)
    SELECT member_id, $4, score, account, consumption, activity, reputation, credit,
           tier_before, tier_after, months_after, risk_gated, $12, $3
    FROM {x}decided
    ON CONFLICT (member_id, period) DO NOTHING
    RETURNING member_id
), settled AS (
    SELECT d.*, {rank("d.tier_after")} AS after_rank FROM {x}decided d JOIN scored USING (member_id)
), moved AS (
    UPDATE members m
    SET tier = s.tier_after, months_below = s.months_after, settled_period = $4, score = s.score,
        tier_since = CASE WHEN s.tier_after <> s.tier_before THEN $3 ELSE m.tier_since END
    FROM settled s WHERE m.member_id BETWEEN $19 AND $20 AND m.member_id = s.member_id
    RETURNING m.member_id
), recent_grants AS MATERIALIZED (
    -- read once before any pack of this chunk is written: probing the table while the
    -- statement appends to it would scan the new rows again for every probe
    SELECT member_id, tier FROM gift_grants WHERE member_id = ANY($1::uuid[]) AND period > $9
), packs AS (
    SELECT * FROM jsonb_to_recordset($10::jsonb)
        AS p(tier text, rank int, points bigint, coupons jsonb)
), granted AS (
    INSERT INTO gift_grants (reference, member_id, tier, period, points, coupons,
                             rule_set_version, granted_at)
    SELECT 'growth:tier_upgrade:' || s.member_id || ':' || p.tier || ':' || $4,
           s.member_id, p.tier, $4, p.points, p.coupons, $12, $3
    FROM settled s JOIN packs p ON p.rank > s.held_rank AND p.rank <= s.after_rank
    WHERE NOT EXISTS (SELECT 1 FROM recent_grants g
                      WHERE g.member_id = s.member_id AND g.tier = p.tier)
    ON CONFLICT (reference) DO NOTHING
    RETURNING *
), levels AS (
    SELECT * FROM jsonb_to_recordset($11::jsonb)
        AS b(category text, level int, min_spend bigint, min_orders int)
), held AS (
    SELECT c.member_id, c.category, c.net, c.orders, max(lv.level) AS level
    FROM {x}categories c
    JOIN settled s USING (member_id)
    JOIN levels lv ON lv.category = c.category AND c.net >= lv.min_spend
                  AND c.orders >= lv.min_orders
    GROUP BY 1, 2, 3, 4
), held_before AS (
    SELECT b.member_id, b.category, b.level FROM member_badges b JOIN settled s USING (member_id)
    WHERE b.member_id BETWEEN $19 AND $20
), badges_kept AS (
    -- a badge is written when its level changes, not every month
    INSERT INTO member_badges (member_id, category, level, since)
    SELECT h.member_id, h.category, h.level, $3 FROM held h
    LEFT JOIN held_before hb USING (member_id, category)
    WHERE hb.level IS DISTINCT FROM h.level
    ON CONFLICT (member_id, category) DO UPDATE SET level = excluded.level, since = excluded.since
    WHERE member_badges.level <> excluded.level
    RETURNING member_id
), badges_lost AS (
    DELETE FROM member_badges b USING settled s
    WHERE b.member_id BETWEEN $19 AND $20 AND b.member_id = s.member_id
      AND NOT EXISTS (SELECT 1 FROM held h
                      WHERE h.member_id = b.member_id AND h.category = b.category)
    RETURNING b.member_id
), awarded AS (
    SELECT h.*, coalesce(hb.level, 0) AS previous_level
    FROM held h LEFT JOIN held_before hb USING (member_id, category)
    WHERE h.level > coalesce(hb.level, 0)
), held_json AS (
    SELECT member_id, json_agg(json_build_object('category', category, 'level', level)
                                ORDER BY category COLLATE "C") AS badges
    FROM held GROUP BY member_id
), news AS (
    SELECT $14 AS event_type, d.member_id, json_build_object(
               'memberId', d.member_id::text, 'period', $4::text, 'score', d.score,
               'previousScore', d.previous_score, 'components', {_component_json(rules)},
               'tier', {_proto_tier("d.tier_after")},
               'badges', coalesce(hj.badges, '[]'::json),
               'riskGated', d.risk_gated, 'ruleSetVersion', $12::int,
               'settleTime', $13::text) AS payload
    FROM settled d LEFT JOIN held_json hj USING (member_id)
    UNION ALL
    SELECT $15, d.member_id, json_build_object(
               'memberId', d.member_id::text, 'previousTier', {_proto_tier("d.tier_before")},
               'tier', {_proto_tier("d.tier_after")},
               'reason', CASE WHEN d.after_rank > d.held_rank
                              THEN 'TIER_CHANGE_REASON_SETTLED_UP'
                              ELSE 'TIER_CHANGE_REASON_SETTLED_DOWN' END,
               'period', $4::text, 'score', d.score, 'ruleSetVersion', $12::int,
               'changedTime', $13::text)
    FROM settled d WHERE d.tier_after <> d.tier_before
    UNION ALL
    SELECT $16, g.member_id, json_build_object(
               'reference', g.reference, 'memberId', g.member_id::text,
               'tier', {_proto_tier("g.tier")}, 'period', g.period, 'points', g.points::text,
               'coupons', g.coupons, 'currencyCode', $6::text, 'ruleSetVersion', $12::int,
               'grantedTime', $13::text)
    FROM granted g
    UNION ALL
    SELECT $17, w.member_id, json_build_object(
               'memberId', w.member_id::text, 'category', w.category, 'level', w.level,
               'previousLevel', w.previous_level, 'period', $4::text,
               'netMinor', w.net::text, 'orders', w.orders, 'currencyCode', $6::text,
               'awardedTime', $13::text)
    FROM awarded w
), published AS (
    INSERT INTO outbox (id, event_type, source, subject, payload)
    SELECT {_UUID7}, event_type, $18, member_id::text, payload FROM news
    RETURNING 1
)
SELECT (SELECT count(*) FROM settled) AS members,
       (SELECT count(*) FROM settled WHERE after_rank > held_rank) AS ups,
       (SELECT count(*) FROM settled WHERE after_rank < held_rank) AS downs,
       (SELECT count(*) FROM granted) AS gift_packs,
       (SELECT coalesce(sum(points), 0) FROM granted) AS gift_points,
       (SELECT count(*) FROM awarded) AS badges_awarded,
       (SELECT count(*) FROM moved) + (SELECT count(*) FROM badges_kept)
         + (SELECT count(*) FROM badges_lost) + (SELECT count(*) FROM published) AS writes
"""
    )
