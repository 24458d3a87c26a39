"""Member status: what it allows, how identity's events move it, the once-only bonuses."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.points.domain import members
from services.points.domain.members import MemberStatus

T = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
EARLIER = T - dt.timedelta(minutes=1)


def test_only_active_members_earn_and_spend():
    assert members.refusal_to_earn_or_spend(MemberStatus.ACTIVE) is None
    assert members.refusal_to_earn_or_spend(MemberStatus.FROZEN).reason == "MEMBER_FROZEN"
    assert members.refusal_to_earn_or_spend(MemberStatus.CLOSED).reason == "MEMBER_CLOSED"


@pytest.mark.parametrize(
    ("current", "applied_at", "target", "at", "after"),
    [
        (MemberStatus.ACTIVE, None, MemberStatus.FROZEN, T, MemberStatus.FROZEN),
        (MemberStatus.FROZEN, EARLIER, MemberStatus.ACTIVE, T, MemberStatus.ACTIVE),
        # An older event arriving late is ignored ...
        (MemberStatus.FROZEN, T, MemberStatus.ACTIVE, EARLIER, None),
        # ... unless it closes the account.
        (MemberStatus.FROZEN, T, MemberStatus.CLOSED, EARLIER, MemberStatus.CLOSED),
        # Closed is final.
        (MemberStatus.CLOSED, EARLIER, MemberStatus.ACTIVE, T, None),
        (MemberStatus.CLOSED, EARLIER, MemberStatus.CLOSED, T, None),
        # The same status again records the newer time.
        (MemberStatus.FROZEN, EARLIER, MemberStatus.FROZEN, T, MemberStatus.FROZEN),
    ],
)
def test_status_after_an_identity_event(current, applied_at, target, at, after):
    assert members.status_after(current, applied_at, target, at) is after


def test_sign_up_bonus_once_and_only_to_active_members():
    assert members.sign_up_bonus_due(MemberStatus.ACTIVE, paid=False)
    assert not members.sign_up_bonus_due(MemberStatus.ACTIVE, paid=True)
    assert not members.sign_up_bonus_due(MemberStatus.FROZEN, paid=False)


def test_referral_due_once_the_referee_completed_an_order():
    referrer = uuid.uuid4()
    assert members.referral_due(True, False, referrer)
    assert not members.referral_due(False, False, referrer)
    assert not members.referral_due(True, True, referrer)
    assert not members.referral_due(True, False, None)
