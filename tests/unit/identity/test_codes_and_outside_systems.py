"""One-time codes (their shape, what registration proves with them), the limits on sending
them, and how identity picks its outside systems from its settings (no I/O: choosing builds,
sends nothing)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.identity import verification
from services.identity.config import IdentitySettings
from services.identity.domain import codes, registration
from services.identity.domain.registration import Channel
from services.identity.limits import IdentityLimits
from services.kit import errors


def test_codes_are_six_random_digits():
    drawn = {codes.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() and codes.code_problem(c) is None for c in drawn)
    assert len(drawn) > 190  # random, not a sequence or a constant
    assert {c[0] for c in drawn} >= {"0", "9"}  # leading zeros kept


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", "１２３４５６", " 123456"])
def test_anything_else_is_no_code(code):
    assert codes.code_problem(code) == "6 digits"


@pytest.mark.parametrize(
    ("channel", "proves", "asserted"),
    [
        (Channel.APP, True, False),
        (Channel.WEB, True, False),
        (Channel.MINI_PROGRAM, True, True),
        (Channel.STORE_DESK, False, False),
        (Channel.BULK_IMPORT, False, False),
    ],
)
def test_self_service_proves_its_contacts_and_the_mini_program_its_account(
    channel, proves, asserted
):
    assert registration.proves_contacts(channel) is proves
    assert registration.needs_assertion(channel) is asserted


def test_sends_are_limited_per_address_a_minute_an_hour_a_day_and_per_caller():
    limits = IdentityLimits.of(IdentitySettings.load())
    assert [(x.count, x.seconds) for x in limits.codes_address] == [
        (1, 60),
        (5, 3600),
        (10, 86400),
    ]
    assert (limits.codes_source.count, limits.codes_source.seconds) == (50, 3600)
    assert (limits.reauth_member.count, limits.reauth_member.seconds) == (10, 3600)
    defaults = IdentitySettings.model_fields
    assert defaults["verification_code_ttl_seconds"].default == 300
    assert defaults["verification_code_attempts"].default == 5


def test_by_default_no_sender_is_chosen_and_identity_would_not_serve():
    assert IdentitySettings.model_fields["code_sender"].default == ""
    with pytest.raises(errors.Misconfigured) as refused:
        verification.code_sender(IdentitySettings.load(code_sender=""))
    assert "IDENTITY_CODE_SENDER" in str(refused.value) and "\n" not in str(refused.value)


def test_the_development_sender_is_chosen_by_name_and_writes_under_the_checkout(tmp_path):
    default = verification.code_sender(
        IdentitySettings.load(code_sender="dev-file", dev_codes_dir="")
    )
    assert isinstance(default, verification.DevFileSender)
    checkout = Path(verification.__file__).resolve().parents[2]
    assert default.directory == checkout / ".local" / "dev-codes"
    chosen = verification.code_sender(
        IdentitySettings.load(code_sender="dev-file", dev_codes_dir=str(tmp_path))
    )
    assert isinstance(chosen, verification.DevFileSender) and chosen.directory == tmp_path


def test_by_default_no_assertion_is_taken():
    assert IdentitySettings.model_fields["assertion_verifier"].default == ""
    chosen = verification.assertion_verifier(IdentitySettings.load(assertion_verifier=""))
    with pytest.raises(verification.ProviderNotConfigured):
        asyncio.run(chosen.subject("wechat", "anything"))


def test_the_development_verifier_takes_dev_subjects_only():
    chosen = verification.assertion_verifier(IdentitySettings.load(assertion_verifier="dev-plain"))
    assert asyncio.run(chosen.subject("qq", "dev:qq-1")) == "qq-1"
    for forged in ("qq-1", "dev:", "other:qq-1"):
        with pytest.raises(verification.AssertionRejected):
            asyncio.run(chosen.subject("qq", forged))
