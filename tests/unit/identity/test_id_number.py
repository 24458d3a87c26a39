"""Resident ID numbers: shape, birth date, ISO 7064 MOD 11-2 check character, masking."""

from __future__ import annotations

import pytest

from services.identity.domain import id_number
from tests.support import idnum

# The GB 11643 example and two numbers whose check character was worked out on paper.
KNOWN_VALID = [
    "11010519491231002X",  # the GB 11643 example: check character X (remainder 2)
    "110101199003070011",
    "440524188001010014",
]


@pytest.mark.parametrize("number", KNOWN_VALID)
def test_known_valid_numbers_have_no_problem(number):
    assert id_number.problem(number) is None
    assert id_number.check_character(number[:17]) == number[17]


def test_check_character_follows_mod_11_2_by_hand():
    first17 = "11010519491231002"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    remainder = sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11
    assert remainder == 2
    assert id_number.check_character(first17) == "X"


@pytest.mark.parametrize("serial", range(0, 1000, 37))
def test_every_other_check_character_is_refused(serial):
    number = idnum.make(serial)
    assert id_number.problem(number) is None
    for wrong in "0123456789X":
        if wrong != number[17]:
            assert id_number.problem(number[:17] + wrong) == "check character does not match"


@pytest.mark.parametrize(
    "birthday", ["19490230", "19491301", "19490001", "19491200", "00000101", "20230229"]
)
def test_a_birth_date_that_does_not_exist_is_refused(birthday):
    number = idnum.make(2, birthday=birthday)  # correct check character, impossible date
    assert id_number.problem(number) == "birth date is not a real date"


def test_leap_day_is_a_real_date():
    assert id_number.problem(idnum.make(3, birthday="20000229")) is None


@pytest.mark.parametrize(
    "number",
    [
        "",
        "11010519491231002",  # 17 characters
        "11010519491231002X1",  # 19 characters
        "1101051949123100XX",  # X before the last place
        "11010519491231002x",  # lower-case x is only accepted after normalize()
        "11010519491231002Y",
        "110105 9491231002X",
        "11010519491231002X\n",
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits: same value, another string
    ],
)
def test_malformed_numbers_are_refused(number):
    assert id_number.problem(number) is not None


def test_normalize_upper_cases_and_strips():
    assert id_number.normalize(" 11010519491231002x\n") == "11010519491231002X"
    assert id_number.problem(id_number.normalize("11010519491231002x")) is None


def test_full_width_digits_normalize_to_ascii():
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "11010519491231002") + "Ｘ"
    assert id_number.normalize(full_width) == "11010519491231002X"


def test_mask_shows_region_prefix_and_last_four_only():
    assert id_number.mask("11010519491231002X") == "1101**********002X"
    masked = id_number.mask(KNOWN_VALID[1])
    assert masked == "1101**********0011"
    assert len(masked) == 18
    assert "19900307" not in masked  # the birth date never shows
