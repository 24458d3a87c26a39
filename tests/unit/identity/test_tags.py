"""Tags: their shape, and how many a member may hold once a call's tags are added."""

from __future__ import annotations

import pytest

from services.identity.domain import tags


@pytest.mark.parametrize("tag", ["vip", "a", "b2b", "segment:2026.q1", "x_y-z", "a" * 64, "0day"])
def test_good_tags(tag):
    assert tags.tag_problem(tag) is None


@pytest.mark.parametrize(
    "tag",
    ["", "VIP", "-vip", "_vip", "vip tag", "a" * 65, "vip\n", "\nvip", "vip/1", "标签", "ｖｉｐ"],
)
def test_bad_tags(tag):
    assert tags.tag_problem(tag) is not None


def test_a_tag_already_held_counts_once():
    assert tags.count_after_adding(["gold", "vip"], ["vip", "vip", "new"]) == 3
    assert tags.count_after_adding([], ["vip"]) == 1
    assert tags.count_after_adding(["vip"], []) == 1


HELD = [f"t{i}" for i in range(63)]


def test_a_member_holds_at_most_64_tags():
    assert tags.MAX_TAGS == 64
    assert not tags.too_many(tags.count_after_adding(HELD, ["t64"]))
    assert tags.too_many(tags.count_after_adding(HELD, ["t64", "t65"]))


def test_re_adding_held_tags_at_the_limit_is_not_too_many():
    full = [*HELD, "t63"]
    assert not tags.too_many(tags.count_after_adding(full, full))
