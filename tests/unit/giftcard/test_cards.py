"""Card numbers: Luhn, generation (random, not sequential), parsing what people type, masking."""

from __future__ import annotations

import random

import pytest

from services.giftcard.domain import cards
from services.giftcard.domain.refusals import FieldProblem

PREFIX = "900123"


@pytest.mark.parametrize(
    "number",
    [
        "79927398713",  # the textbook example
        "4111111111111111",
        "5555555555554444",
        "6011111111111117",
        "378282246310005",
        "4539148803436467",
    ],
)
def test_known_valid_numbers_pass_luhn(number):
    assert cards.luhn_valid(number)
    assert cards.check_digit(number[:-1]) == number[-1]


@pytest.mark.parametrize(
    "number", ["79927398710", "4111111111111112", "5555555555554445", "", "7", "4111 1111", "٣٣"]
)
def test_wrong_check_digits_and_non_digits_fail_luhn(number):
    assert not cards.luhn_valid(number)


def test_every_single_digit_typo_is_caught():
    number = cards.new_number(PREFIX, randbelow=random.Random(1).randrange)
    for i, digit in enumerate(number):
        for other in "0123456789":
            if other != digit:
                assert not cards.luhn_valid(number[:i] + other + number[i + 1 :])


def test_a_new_number_is_prefix_random_body_and_check_digit():
    calls = []

    def randbelow(n):
        calls.append(n)
        return 42

    number = cards.new_number(PREFIX, 19, randbelow)
    assert calls == [10**12]  # the whole body in one draw: no digit depends on a counter
    assert number == PREFIX + "000000000042" + cards.check_digit(PREFIX + "000000000042")
    assert len(number) == 19 and cards.luhn_valid(number)


@pytest.mark.parametrize("length", [16, 17, 18, 19])
def test_numbers_of_every_allowed_length(length):
    number = cards.new_number(PREFIX, length)
    assert len(number) == length and number.startswith(PREFIX) and cards.luhn_valid(number)


@pytest.mark.parametrize(
    ("prefix", "length", "problem"),
    [
        (PREFIX, 15, "16 to 19"),
        (PREFIX, 20, "16 to 19"),
        ("90a1", 19, "digits"),
        ("1234567", 16, "at least 9 random digits"),  # 16 - 7 - 1 = 8
    ],
)
def test_numbers_that_would_be_too_short_or_guessable_are_not_generated(prefix, length, problem):
    assert problem in cards.number_problem(prefix, length)
    with pytest.raises(ValueError):
        cards.new_number(prefix, length)


def test_a_batch_is_distinct_valid_and_not_sequential():
    numbers = cards.new_numbers(1000, PREFIX)
    assert len(set(numbers)) == 1000
    assert all(cards.luhn_valid(n) and n.startswith(PREFIX) for n in numbers)
    bodies = sorted(int(n[len(PREFIX) : -1]) for n in numbers)
    gaps = {b - a for a, b in zip(bodies, bodies[1:], strict=False)}
    # Independent draws over 10^12: neighbours are far apart and unevenly so.
    assert min(gaps) > 1 and len(gaps) > 900


def test_a_batch_skips_numbers_already_taken_and_repeats():
    source = iter([1, 1, 2, 3])
    taken = {PREFIX + "000000000002" + cards.check_digit(PREFIX + "000000000002")}
    numbers = cards.new_numbers(2, PREFIX, taken=taken, randbelow=lambda n: next(source))
    assert [n[len(PREFIX) : -1] for n in numbers] == ["000000000001", "000000000003"]


def test_a_random_source_that_repeats_itself_is_noticed():
    with pytest.raises(ValueError):
        cards.new_numbers(3, PREFIX, randbelow=lambda n: 7)


def test_a_batch_larger_than_a_thousandth_of_the_space_is_refused():
    with pytest.raises(ValueError):
        cards.new_numbers(10**6 + 1, "9001234", 17)  # 9 random digits


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("6011111111111117", "6011111111111117"),
        ("6011 1111 1111 1117", "6011111111111117"),
        ("6011-1111-1111-1117", "6011111111111117"),
        (" 6011111111111117 ", "6011111111111117"),
        ("６０１１１１１１１１１１１１１７", "6011111111111117"),  # full-width, from an IME
        ("6011\u30001111\u300011111117", "6011111111111117"),  # ideographic spaces
    ],
)
def test_parse_normalises_what_people_type(raw, expected):
    assert cards.parse(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "CARD_NUMBER_FORMAT"),
        ("   ", "CARD_NUMBER_FORMAT"),
        ("6011a11111111117", "CARD_NUMBER_FORMAT"),
        ("6011.1111.1111.1117", "CARD_NUMBER_FORMAT"),
        ("٦٠١١١١١١١١١١١١١٧", "CARD_NUMBER_FORMAT"),  # Arabic-Indic digits are not ours
        ("1" * 65, "CARD_NUMBER_FORMAT"),
        ("378282246310005", "CARD_NUMBER_LENGTH"),  # 15 digits, Luhn-valid
        ("60111111111111111117", "CARD_NUMBER_LENGTH"),  # 20
        ("6011111111111118", "CARD_NUMBER_CHECK_DIGIT"),
    ],
)
def test_parse_refuses_with_a_precise_reason(raw, reason):
    problem = cards.parse(raw, field="number")
    assert isinstance(problem, FieldProblem)
    assert problem.reason == reason and problem.field == "number" and problem.description


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("6011111111111117", "6011********1117"),
        ("9001230000000000425", "9001***********0425"),
        ("12345678", "********"),
    ],
)
def test_mask_shows_the_first_and_last_four(number, masked):
    assert cards.mask(number) == masked
    assert len(cards.mask(number)) == len(number)


def test_grouped_prints_in_fours_and_parses_back():
    number = cards.new_number(PREFIX)
    printed = cards.grouped(number)
    assert printed.split(" ")[0] == number[:4] and len(printed.split(" ")) == 5
    assert cards.parse(printed) == number
