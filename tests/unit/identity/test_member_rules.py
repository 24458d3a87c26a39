"""Member rules: passwords, birthdays, profile changes, statuses."""

from __future__ import annotations

import datetime as dt

import pytest

from services.identity.domain import member as rules
from services.identity.domain.member import MemberStatus, Profile, StatusChange


@pytest.mark.parametrize("password", ["abcd1234", "s3cret-pass", "pass word!", "x1" * 64])
def test_good_passwords(password):
    assert rules.password_problem(password) is None


@pytest.mark.parametrize(
    "password",
    [
        "",
        "abc123",  # too short
        "abcd123",  # 7 characters
        "a1" * 64 + "x",  # 129 characters
        "12345678",  # digits only
        "abcdefgh",  # letters only
        "密码密码密码密码",  # letters only, in any script
    ],
)
def test_weak_passwords(password):
    assert rules.password_problem(password) is not None


TODAY = dt.date(2026, 5, 1)


@pytest.mark.parametrize("value", ["", "1990-03-07", "1900-01-01", "2026-05-01", "2000-02-29"])
def test_good_birthdays(value):
    assert rules.birthday_problem(value, TODAY) is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-05-02",  # tomorrow
        "2999-01-01",
        "1899-12-31",
        "1990-13-01",
        "1990-02-30",
        "2001-02-29",
        "07/03/1990",
        "1990-3-7",
        "19900307",  # ISO basic format: the contract says YYYY-MM-DD
        "1990-W10-3",  # ISO week date
        "1990-03-07T00:00",
        "not a date",
    ],
)
def test_bad_birthdays(value):
    assert rules.birthday_problem(value, TODAY) is not None


ACTIVE, FROZEN, CLOSED = MemberStatus.ACTIVE, MemberStatus.FROZEN, MemberStatus.CLOSED
ALLOWED = {(ACTIVE, FROZEN), (FROZEN, ACTIVE), (ACTIVE, CLOSED), (FROZEN, CLOSED)}


@pytest.mark.parametrize("current", list(MemberStatus))
@pytest.mark.parametrize("target", list(MemberStatus))
def test_status_transitions(current, target):
    assert rules.can_transition(current, target) == ((current, target) in ALLOWED)


def test_unknown_status_goes_nowhere():
    assert not rules.can_transition("deleted", ACTIVE)


@pytest.mark.parametrize("current", list(MemberStatus))
@pytest.mark.parametrize("target", list(MemberStatus))
def test_status_change_is_a_no_op_refusal_or_transition(current, target):
    change = rules.status_change(current, target)
    if current == target:
        assert change is StatusChange.UNCHANGED  # closing a closed member is not refused
    elif (current, target) in ALLOWED:
        assert change is StatusChange.APPLY
    else:
        assert change is StatusChange.REFUSED


def test_statuses_are_the_stored_strings():
    assert [s.value for s in MemberStatus] == ["active", "frozen", "closed"]
    assert MemberStatus("frozen") is FROZEN
    assert FROZEN == "frozen"


@pytest.mark.parametrize(("status", "open_"), [(ACTIVE, True), (FROZEN, True), (CLOSED, False)])
def test_only_a_closed_member_is_refused_changes_and_sign_in(status, open_):
    assert rules.is_open(status) is open_


CURRENT = Profile(nickname="lei", gender="male", birthday=dt.date(1990, 3, 7), region="CN")


def test_profile_changes_keep_only_what_differs_in_the_order_asked():
    wanted = {"region": "CN-31", "nickname": "lei", "birthday": None}
    assert rules.profile_changes(CURRENT, wanted) == {"region": "CN-31", "birthday": None}
    assert list(rules.profile_changes(CURRENT, wanted)) == ["region", "birthday"]


def test_profile_without_differences_has_no_changes():
    assert rules.profile_changes(CURRENT, {"nickname": "lei", "gender": "male"}) == {}
    assert rules.profile_changes(CURRENT, {}) == {}


def test_clearing_a_field_is_a_change():
    assert rules.profile_changes(CURRENT, {"nickname": ""}) == {"nickname": ""}


def test_referral_codes_avoid_look_alike_characters():
    codes = {rules.new_referral_code() for _ in range(200)}
    assert len(codes) > 190
    for code in codes:
        assert len(code) == 8
        assert not set(code) & set("0O1I")


def test_filled_fields_name_what_holds_a_value_after_the_changes():
    profile = rules.Profile(nickname="lei", region="CN-BJ")
    assert profile.filled_fields() == ["nickname", "region"]
    changed = {"region": "", "birthday": dt.date(1990, 3, 7)}  # a field cleared, one set
    assert profile.filled_fields(changed) == ["nickname", "birthday"]
