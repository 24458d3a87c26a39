"""Phone and e-mail normalisation (one canonical form, so uniqueness means what it says) and
how contacts and names are shown: masked."""

from __future__ import annotations

import email_validator
import phonenumbers

DEFAULT_REGION = "CN"


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a valid phone number, or None."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str | None:
    """Lower-cased, syntax-checked address (no DNS look-up), or None."""
    if len(raw) > 254:
        return None
    try:
        result = email_validator.validate_email(raw, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return None
    return result.normalized.lower()


def mask_phone(phone: str) -> str:
    """+8613812345678 → +86138****5678."""
    return phone[:-8] + "****" + phone[-4:] if len(phone) > 8 else "****"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """张三丰 → 张**: the first character, then a `*` for each of the others."""
    return name[:1] + "*" * (len(name) - 1)
