"""Phone and e-mail normalisation: one canonical form per contact, or None."""

from __future__ import annotations

import pytest

from services.identity.domain import contact


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "138-1234-5678",
        "138 1234 5678",
        "(+86) 138 1234 5678",
        "0086 13812345678",
        " 13812345678 ",
        "１３８１２３４５６７８",  # full-width digits, as typed with a Chinese IME
    ],
)
def test_cn_mobile_numbers_normalise_to_one_e164_form(raw):
    assert contact.normalize_phone(raw) == "+8613812345678"


def test_cn_landline_and_foreign_numbers_keep_their_country():
    assert contact.normalize_phone("010 6552 9988") == "+861065529988"
    assert contact.normalize_phone("+1 650 253 0000") == "+16502530000"


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "12345", "1381234567", "138123456789", "23812345678", "abc", "+86", "phone"],
)
def test_invalid_phone_numbers_are_none(raw):
    assert contact.normalize_phone(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Li.Lei@Example.COM", "li.lei@example.com"),
        ("A@EXAMPLE.com", "a@example.com"),
        ("han.meimei+loyalty@example.cn", "han.meimei+loyalty@example.cn"),
    ],
)
def test_email_is_lower_cased(raw, expected):
    assert contact.normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not-an-email",
        "a@b",
        "@example.com",
        "a@",
        "a b@example.com",
        "a@@example.com",
        "x" * 250 + "@e.com",  # longer than 254 characters
    ],
)
def test_invalid_email_is_none(raw):
    assert contact.normalize_email(raw) is None


def test_masks_hide_the_middle():
    assert contact.mask_phone("+8613812345678") == "+86138****5678"
    assert contact.mask_email("li.lei@example.com") == "l***@example.com"
    assert "12345678" not in contact.mask_phone("+8613812345678")


@pytest.mark.parametrize(
    ("name", "masked"), [("张三丰", "张**"), ("李雷", "李*"), ("王", "王"), ("Li Lei", "L*****")]
)
def test_names_show_their_first_character_only(name, masked):
    assert contact.mask_name(name) == masked
