"""The domain's state enums are exactly the strings the schema's CHECK constraints allow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.points.domain.commerce import ParkedState
from services.points.domain.holds import HoldState
from services.points.domain.members import MemberStatus
from services.points.domain.rebates import RebateState

MIGRATIONS = Path(__file__).parents[3] / "services" / "points" / "migrations"
SCHEMA = "\n".join(m.read_text() for m in sorted(MIGRATIONS.glob("*.sql")))


def allowed(table: str, column: str) -> set[str]:
    """The values of `table.column`'s CHECK (column IN (...))."""
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", SCHEMA, re.DOTALL)
    assert body, table
    found = re.search(rf"\b{column}\b[^,]*?CHECK \({column} IN \(([^)]*)\)\)", body.group(1))
    assert found, column
    return set(re.findall(r"'([^']*)'", found.group(1)))


@pytest.mark.parametrize(
    ("table", "column", "enum"),
    [
        ("member_accounts", "status", MemberStatus),
        ("holds", "state", HoldState),
        ("orders", "rebate_state", RebateState),
        ("parked_events", "state", ParkedState),
    ],
)
def test_enum_values_are_the_column_values(table, column, enum):
    assert {e.value for e in enum} == allowed(table, column)
