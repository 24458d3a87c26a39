"""Refresh tokens: rotation, reuse ending the family, and the ways a token is invalid."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from services.identity.domain.member import MemberStatus
from services.identity.domain.tokens import Refresh, RefreshToken, on_refresh

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
FRESH = RefreshToken(
    token_id=uuid.uuid4(),
    family_id=uuid.uuid4(),
    member_id=uuid.uuid4(),
    expires_at=NOW + dt.timedelta(days=30),
    used_at=None,
    revoked_at=None,
    member_status=MemberStatus.ACTIVE,
)


def token(**changes) -> RefreshToken:
    return dataclasses.replace(FRESH, **changes)


def test_an_unused_live_token_rotates():
    assert on_refresh(FRESH, NOW) is Refresh.ROTATE


def test_a_frozen_member_may_refresh():
    assert on_refresh(token(member_status=MemberStatus.FROZEN), NOW) is Refresh.ROTATE


def test_a_used_token_presented_again_ends_its_family():
    assert on_refresh(token(used_at=NOW - dt.timedelta(minutes=1)), NOW) is Refresh.REUSED


@pytest.mark.parametrize(
    "changes",
    [
        {"revoked_at": NOW - dt.timedelta(seconds=1)},
        {"expires_at": NOW},  # expiring now is expired
        {"expires_at": NOW - dt.timedelta(days=1)},
        {"member_status": MemberStatus.CLOSED},
    ],
    ids=["revoked", "expires-now", "expired", "member-closed"],
)
def test_revoked_expired_or_closed_is_invalid(changes):
    assert on_refresh(token(**changes), NOW) is Refresh.INVALID


def test_an_unknown_token_is_invalid():
    assert on_refresh(None, NOW) is Refresh.INVALID


@pytest.mark.parametrize(
    "changes",
    [
        {"revoked_at": NOW - dt.timedelta(seconds=1)},
        {"expires_at": NOW - dt.timedelta(days=1)},
        {"member_status": MemberStatus.CLOSED},
    ],
)
def test_a_dead_token_is_invalid_even_when_used(changes):
    """Only a token that would still be valid revokes its family when it comes back."""
    used = token(used_at=NOW - dt.timedelta(days=2), **changes)
    assert on_refresh(used, NOW) is Refresh.INVALID
