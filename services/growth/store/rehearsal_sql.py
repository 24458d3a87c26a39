"""The rehearsal's chunk statement: the settlement's scoring (settlement_sql.scoring) under two
rule sets at once, over the same members and states, returning counts only and writing
nothing."""

from __future__ import annotations

from functools import lru_cache

from ..domain.rules import RuleSet
from .settlement_sql import rank, scoring

# The placeholders of the rehearsal statement: one chunk and window, each side its rule set's
# currency and lists.
_BASELINE = {
    "members": "$1::uuid[]",
    "lo": "$14::uuid",
    "hi": "$15::uuid",
    "start": "$2",
    "end": "$3",
    "zone": "$4",
    "currency": "$5",
    "categories": "$6::text[]",
    "profile_fields": "$7::text[]",
}
_CANDIDATE = {
    **_BASELINE,
    "currency": "$8",
    "categories": "$9::text[]",
    "profile_fields": "$10::text[]",
}


def _grants(x: str, packs: str) -> str:
    """The packs each member of `{x}decided` would be granted (gifts.upgrade_gifts), written
    nowhere."""
    return f"""{x}packs AS (
    SELECT * FROM jsonb_to_recordset({packs}::jsonb) AS p(tier text, rank int)
), {x}grants AS (
    SELECT p.tier FROM {x}decided d
    JOIN {x}packs p ON p.rank > d.held_rank AND p.rank <= {rank("d.tier_after")}
    WHERE NOT EXISTS (SELECT 1 FROM gift_grants g
                      WHERE g.member_id BETWEEN $14 AND $15
                        AND g.member_id = d.member_id AND g.tier = p.tier AND g.period > $11)
)"""


@lru_cache(maxsize=16)
def rehearsal(baseline: RuleSet, candidate: RuleSet) -> str:
    """The chunk statement of a rehearsal: both rule sets settle the same members from the
    same states, and it returns counts only (members per baseline → candidate tier, packs per
    side and tier), changing nothing. $11 is the gift cutoff, $12 and $13 the sides' packs."""
    return (
        "WITH "
        + scoring(baseline, "b_", _BASELINE)
        + ", "
        + scoring(candidate, "c_", _CANDIDATE)
        + ", "
        + _grants("b_", "$12")
        + ", "
        + _grants("c_", "$13")
        + """
SELECT 'tiers' AS kind, b.tier_after AS baseline, c.tier_after AS candidate, count(*) AS n
FROM b_decided b JOIN c_decided c USING (member_id) GROUP BY 2, 3
UNION ALL SELECT 'baseline_gifts', tier, '', count(*) FROM b_grants GROUP BY 2
UNION ALL SELECT 'candidate_gifts', tier, '', count(*) FROM c_grants GROUP BY 2
"""
    )
