"""Redemption codes: entropy, alphabet, check character, normalisation of typed input, keyed
hashes with rotation, one generic refusal, batches."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import string

import pytest

from services.kit.refusals import FieldProblem
from services.subscription.domain import codes
from services.subscription.domain.codes import CodeHash, CodeKey, CodeKeyring, CodeRecord

K1 = CodeKey("k1", b"1" * 32)
K2 = CodeKey("k2", b"2" * 32)
NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
CODE = codes.new_code(random.Random(7).randrange)


def test_the_code_space_holds_at_least_64_bits():
    assert codes.combinations() == 32**15 == 2**75
    assert codes.combinations() >= 2**codes.MIN_ENTROPY_BITS
    assert codes.entropy_bits() == 75


def test_the_alphabet_has_no_look_alikes():
    assert len(codes.ALPHABET) == len(set(codes.ALPHABET)) == 32
    # Digits and capitals but O (0), I and L (1), and U (Crockford's choice).
    assert set(codes.ALPHABET) == set(string.digits + string.ascii_uppercase) - set("OILU")


def test_a_new_code_draws_from_the_whole_space_once():
    calls = []

    def randbelow(n):
        calls.append(n)
        return 0

    code = codes.new_code(randbelow)
    assert calls == [32**15]
    assert code[:15] == "0" * 15 and len(code) == 16
    top = codes.new_code(lambda n: n - 1)
    assert top[:15] == "Z" * 15


def test_new_codes_are_16_characters_and_differ():
    drawn = {codes.new_code() for _ in range(500)}
    assert len(drawn) == 500
    assert all(len(c) == 16 and set(c) <= set(codes.ALPHABET) for c in drawn)
    assert all(codes.parse(c) == c for c in drawn)


def test_printed_in_four_groups_and_parsed_back():
    printed = codes.printed(CODE)
    assert [len(g) for g in printed.split("-")] == [4, 4, 4, 4]
    assert codes.parse(printed) == CODE


@pytest.mark.parametrize(
    "typed",
    [
        lambda p: p.lower(),
        lambda p: p.replace("-", " "),
        lambda p: p.replace("-", ""),
        lambda p: f"  {p}\t\n",
        lambda p: p.replace("-", " - "),
        lambda p: p.replace("-", "–"),  # an en dash from a word processor
        lambda p: p.translate(  # full-width, as typed with a Chinese input method
            {c: c + 0xFEE0 for c in range(0x21, 0x7F)}
        ),
    ],
)
def test_typed_input_is_normalised(typed):
    assert codes.parse(typed(codes.printed(CODE))) == CODE


def test_look_alikes_map_as_crockford_says():
    code = codes.new_code(lambda n: 1 + 32 + 32**2)  # "…0111" at the end of the payload
    payload = code[:-1]
    assert payload.endswith("111") and code.count("0") >= 10
    typed = payload.replace("0", "O").replace("1", "I", 1).replace("1", "l", 1) + code[-1]
    assert codes.normalise(typed) == code
    assert codes.parse(typed) == code


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ABCD",
        "ABCD-EFGH-JKMN-PQR",  # 15
        "ABCD-EFGH-JKMN-PQRST",  # 17
        "ABCD-EFGH-JKMN-PQRU",  # U is not in the alphabet
        "ABCD-EFGH-JKMN-PQR*",
        "A" * 100,
    ],
)
def test_a_malformed_code_is_a_format_problem(raw):
    problem = codes.parse(raw)
    assert isinstance(problem, FieldProblem)
    assert (problem.field, problem.reason) == ("code", "CODE_FORMAT")


def test_the_check_character_catches_every_single_typo():
    for i, wrong in itertools.product(range(16), codes.ALPHABET):
        if CODE[i] == wrong:
            continue
        typo = CODE[:i] + wrong + CODE[i + 1 :]
        assert isinstance(codes.parse(typo), FieldProblem), typo


def test_the_check_character_catches_swapped_neighbours_but_0_and_z():
    # Luhn mod N misses one transposition: the two values whose doubled digit sums differ by
    # as much as the values do, here 0 and 31 ("0" and "Z"), as 09 ↔ 90 in decimal Luhn.
    rng = random.Random(3)
    for _ in range(300):
        code = codes.new_code(rng.randrange)
        for i in range(15):
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            if swapped != code and {code[i], code[i + 1]} != {"0", "Z"}:
                assert isinstance(codes.parse(swapped), FieldProblem), (code, i)


def test_luhn_mod_32_on_random_payloads():
    rng = random.Random(1)
    for _ in range(200):
        code = codes.new_code(rng.randrange)
        i = rng.randrange(16)
        shifted = codes.ALPHABET[(codes.ALPHABET.index(code[i]) + 1) % 32]
        assert isinstance(codes.parse(code[:i] + shifted + code[i + 1 :]), FieldProblem)


# --- keyed hashes --------------------------------------------------------------------------------
def test_a_code_verifies_against_its_hash_only():
    ring = CodeKeyring(K1)
    stored = codes.hash_code(CODE, K1)
    assert stored.key_id == "k1" and len(stored.digest) == 32
    assert codes.verify(ring, CODE, stored) is True
    assert codes.verify(ring, codes.new_code(), stored) is False
    assert codes.verify(ring, CODE, None) is False  # unknown: same work, no
    assert codes.hash_code(CODE, K1) == stored  # deterministic: the store looks it up
    assert codes.hash_code(CODE, K2).digest != stored.digest  # keyed


def test_the_hash_is_hmac_sha256_of_a_versioned_message():
    import hashlib
    import hmac

    expected = hmac.new(
        b"1" * 32, b"loyalty.subscription.code.v1\x00" + CODE.encode(), hashlib.sha256
    )
    assert codes.hash_code(CODE, K1).digest == expected.digest()


def test_keys_rotate():
    old = codes.hash_code(CODE, K1)
    ring = CodeKeyring(K2, (K1,))
    assert codes.verify(ring, CODE, old) and codes.needs_rehash(old, ring)
    assert not codes.needs_rehash(codes.hash_code(CODE, K2), ring)
    # A look-up tries the current key first, then each retired one.
    assert [h.key_id for h in codes.lookup_hashes(ring, CODE)] == ["k2", "k1"]
    assert old in codes.lookup_hashes(ring, CODE)
    with pytest.raises(codes.UnknownCodeKey):
        codes.verify(CodeKeyring(K2), CODE, old)
    with pytest.raises(codes.UnknownCodeKey):
        codes.verify(ring, CODE, CodeHash("k9", old.digest))


def test_keys_are_checked():
    with pytest.raises(ValueError):
        CodeKey("k1", b"short")
    with pytest.raises(ValueError):
        CodeKey("Bad Id", b"1" * 32)
    with pytest.raises(ValueError):
        CodeKeyring(K1, (CodeKey("k1", b"3" * 32),))
    assert "1111" not in repr(K1)  # the secret stays out of logs


# --- redemption ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "record",
    [
        None,  # unknown
        CodeRecord("b1", NOW + dt.timedelta(days=1), redeemed_at=NOW),  # used
        CodeRecord("b1", NOW),  # expired (exclusive)
        CodeRecord("b1", NOW - dt.timedelta(days=1)),
        CodeRecord("b1", NOW + dt.timedelta(days=1), withdrawn=True),
    ],
)
def test_unknown_used_expired_and_withdrawn_codes_get_one_generic_refusal(record):
    refusal = codes.redeem_refusal(record, NOW)
    assert refusal == codes.CODE_INVALID
    assert (refusal.reason, refusal.message, dict(refusal.metadata)) == (
        "CODE_INVALID",
        "the code is not valid",
        {},
    )
    assert not refusal.quota


def test_a_valid_code_redeems_until_it_expires():
    record = CodeRecord("b1", NOW + dt.timedelta(seconds=1))
    assert codes.redeem_refusal(record, NOW) is None


def test_batches():
    later = NOW + dt.timedelta(days=90)
    assert codes.batch_problems(1, later, NOW) == []
    assert codes.batch_problems(100_000, later, NOW) == []
    assert [p.field for p in codes.batch_problems(0, later, NOW)] == ["count"]
    assert [p.field for p in codes.batch_problems(100_001, later, NOW)] == ["count"]
    assert [p.field for p in codes.batch_problems(5, NOW, NOW)] == ["expire_time"]
    far = NOW + dt.timedelta(days=3 * 366 + 1)
    assert [p.field for p in codes.batch_problems(5, far, NOW)] == ["expire_time"]
