"""Identity's rate limits as configured, and the rules of operator and service clients."""

from __future__ import annotations

import pytest

from services.identity.config import IdentitySettings
from services.identity.domain import clients
from services.identity.limits import IdentityLimits


def test_login_limits_by_default_hold_asvs_and_reserve_a_share_for_known_sources():
    limits = IdentityLimits.of(IdentitySettings.load())
    known, new = limits.login_account_from_known_source, limits.login_account_from_new_source
    # One log per account: at most 100 failures in any hour, 80 of them from new sources.
    assert known.name == new.name
    assert (known.count, known.seconds) == (100, 3600)
    assert (new.count, new.seconds) == (80, 3600)
    assert (
        limits.login_account_and_source_minute.count,
        limits.login_account_and_source_minute.seconds,
    ) == (5, 60)
    assert (
        limits.login_account_and_source_hour.count,
        limits.login_account_and_source_hour.seconds,
    ) == (5 * 4, 3600)
    assert (limits.real_name_member.count, limits.real_name_member.seconds) == (5, 86400)


@pytest.mark.parametrize(
    ("per_hour", "reserved", "new_sources"),
    [(100, 20, 80), (10, 20, 1), (100, 0, 100), (0, 20, 0), (100, -5, 100)],
)
def test_the_reserved_share_never_shuts_new_sources_out_nor_turns_the_limit_off(
    per_hour, reserved, new_sources
):
    settings = IdentitySettings.load(
        login_failures_per_account_hour=per_hour,
        login_failures_reserved_for_known_sources=reserved,
    )
    limits = IdentityLimits.of(settings)
    assert limits.login_account_from_new_source.count == new_sources
    assert limits.login_account_from_known_source.count == per_hour


def test_a_caller_hands_out_only_scopes_it_holds():
    held = {"identity:admin", "identity:read"}
    assert clients.not_held(["identity:read"], held) == []
    assert clients.not_held(["points:admin", "identity:read", "points:grant"], held) == [
        "points:admin",
        "points:grant",
    ]


@pytest.mark.parametrize(
    ("client_id", "kind", "scopes", "problems"),
    [
        ("admin", "operator", ["identity:admin"], 0),
        ("Admin", "operator", ["identity:admin"], 1),
        ("admin", "robot", ["identity:admin"], 1),
        ("admin", "service", [], 1),
        ("admin", "service", ["everything", "points:grant"], 1),
        ("a", "robot", ["x"], 3),
        ("admin", "service", ["identity:read"] * 33, 1),
    ],
)
def test_a_client_defined_on_the_command_line_is_checked(client_id, kind, scopes, problems):
    assert len(clients.definition_problems(client_id, kind, scopes)) == problems
