"""One-time codes that prove a phone number or an e-mail address: sent alike whoever owns the
address, short-lived, single use, for one purpose, a few tries each, kept only as keyed hashes,
sends limited per address and per caller; registering and signing in without a password with
them. The codes come from the fake sender (conftest.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import stat

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from services.identity.usecases import codes
from services.identity.verification import DevFileSender
from tests.support.ids import uid

from .helpers import (
    CLOSE,
    PASSWORD,
    REGISTER,
    SIGN_IN,
    code_for,
    fails,
    next_phone,
    proven,
    register,
    snapshot,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
LIMITED = grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture
def clock(identity_app):
    identity_app.deps.clock.set(dt.datetime.now(dt.UTC))
    return identity_app.deps.clock


@pytest.fixture
def several_a_minute(identity_app, monkeypatch):
    """For tests sending an address several codes at once: one a minute is the default."""
    monkeypatch.setattr(identity_app.settings, "codes_per_address_minute", 0)


def registration(phone: str, code: str = "", **kw) -> pb.RegisterMemberRequest:
    kw.setdefault("password", PASSWORD)
    kw.setdefault("channel", res.REGISTRATION_CHANNEL_APP)
    return pb.RegisterMemberRequest(
        request_id=uid(), phone=phone, phone_verification_code=code, **kw
    )


def wrong(code: str) -> str:
    """Another well-formed code."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def members(identity_app) -> int:
    return await identity_app.pool.fetchval("SELECT count(*) FROM members")


async def code_invalid(identity, request, field="phone_verification_code"):
    return await fails(
        identity.RegisterMember(request), INVALID, "VERIFICATION_CODE_INVALID", [field]
    )


async def test_a_phone_registration_needs_the_code_sent_to_the_phone(identity, identity_app, fakes):
    phone = next_phone()
    # Without a code, or with one never sent: refused, and nothing but the try is kept.
    await fails(
        identity.RegisterMember(registration(phone)), INVALID, fields=["phone_verification_code"]
    )
    before = await snapshot(identity_app.pool)
    await code_invalid(identity, registration(phone, "123456"))
    assert await snapshot(identity_app.pool) == before
    code = await code_for(identity, phone)
    (sent,) = fakes.codes.to(phone)
    assert (sent.channel, sent.address, sent.purpose) == ("sms", "+86" + phone, "register")
    before = await snapshot(identity_app.pool)
    await code_invalid(identity, registration(phone, wrong(code)))
    assert await snapshot(identity_app.pool) == before  # the wrong try counts elsewhere
    registered = await identity.RegisterMember(registration(phone, code))
    assert registered.member.member_id
    # Single use: the same code proves nothing again, here for a second registration.
    await code_invalid(identity, registration(phone, code))
    assert await members(identity_app) == 1


async def test_an_email_address_needs_its_own_code(identity, identity_app):
    phone, email = next_phone(), "li.lei@example.com"
    phone_code = await code_for(identity, phone)
    request = registration(phone, phone_code, email=email, email_verification_code="000000")
    await code_invalid(identity, request, "email_verification_code")
    # The phone's code is not for the address; the refusal did not use the phone's code up.
    request.email_verification_code = phone_code
    await code_invalid(identity, request, "email_verification_code")
    request.email_verification_code = await code_for(identity, email)
    request.request_id = uid()
    member = (await identity.RegisterMember(request)).member
    assert member.email == "l***@example.com"
    # An e-mail address alone is proven the same way.
    await register(identity, login=False, phone="", email="han.mei@example.com")


async def test_staff_channels_prove_no_contact(identity, mint):
    desk = mint("desk-1", "operator", ["identity:write"])
    request = registration(next_phone(), channel=res.REGISTRATION_CHANNEL_STORE_DESK, password="")
    assert (await identity.RegisterMember(request, metadata=desk)).member.member_id


async def test_a_code_serves_its_purpose_only(identity, identity_app, several_a_minute):
    phone = next_phone()
    for purpose in (SIGN_IN, CLOSE):
        code = await code_for(identity, phone, purpose)
        await code_invalid(identity, registration(phone, code))
    # Sent for registering, the address's other codes still stand.
    assert (await identity.RegisterMember(await proven(identity, registration(phone)))).member
    await identity.Login(
        pb.LoginRequest(
            identifier=phone, verification_code=await code_for(identity, phone, SIGN_IN)
        )
    )


async def test_a_code_expires(identity, identity_app, clock):
    phone = next_phone()
    code = await code_for(identity, phone)
    clock.advance(seconds=identity_app.settings.verification_code_ttl_seconds + 1)
    await code_invalid(identity, registration(phone, code))
    clock.advance(seconds=-2)  # a moment earlier it was still good
    assert (await identity.RegisterMember(registration(phone, code))).member.member_id


async def test_a_code_takes_a_few_tries_only_even_the_right_one_after(identity, identity_app):
    tries = identity_app.settings.verification_code_attempts
    phone = next_phone()
    code = await code_for(identity, phone)
    for _ in range(tries):
        await code_invalid(identity, registration(phone, wrong(code)))
    await code_invalid(identity, registration(phone, code))
    assert await members(identity_app) == 0


async def test_concurrent_tries_never_exceed_the_tries_of_a_code(
    identity, identity_app, several_a_minute
):
    tries = identity_app.settings.verification_code_attempts
    member = await register(identity, login=False)
    code = await code_for(identity, member.phone, SIGN_IN)
    guesses = [f"{n:06d}" for n in range(40) if f"{n:06d}" != code]
    await asyncio.gather(
        *(
            identity.Login(pb.LoginRequest(identifier=member.phone, verification_code=g))
            for g in guesses
        ),
        return_exceptions=True,
    )
    counted = await identity_app.pool.fetchval(
        "SELECT attempts FROM verification_attempts a JOIN verification_codes c USING (code_id)"
        " WHERE c.purpose = 'sign_in'"
    )
    assert counted == tries
    await fails(
        identity.Login(pb.LoginRequest(identifier=member.phone, verification_code=code)),
        UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )


async def test_a_new_code_replaces_the_previous_one(identity, identity_app, clock):
    phone = next_phone()
    first = await code_for(identity, phone)
    clock.advance(minutes=1)
    second = await code_for(identity, phone)
    if first != second:
        await code_invalid(identity, registration(phone, first))
    assert (await identity.RegisterMember(registration(phone, second))).member.member_id
    assert await identity_app.pool.fetchval("SELECT count(*) FROM verification_codes") == 1


async def test_codes_and_addresses_are_kept_only_as_keyed_hashes(identity, identity_app):
    phone = next_phone()
    code = await code_for(identity, phone)
    row = await identity_app.pool.fetchrow("SELECT * FROM verification_codes")
    stored = repr(dict(row))
    assert code not in stored and phone not in stored
    assert row["code_hash"] not in {
        hashlib.sha256(code.encode()).digest(),
        hashlib.sha256(f"{row['code_id']}:{code}".encode()).digest(),
    }
    assert row["address"].startswith("identifier:") and len(row["code_hash"]) == 32
    # The expired ones are deleted by a job.
    identity_app.deps.clock.set(row["expires_at"])
    assert await codes.forget_expired(identity_app.deps) == 0
    identity_app.deps.clock.set(row["expires_at"] + dt.timedelta(seconds=1))
    assert await codes.forget_expired(identity_app.deps) == 1
    assert not await identity_app.pool.fetchval("SELECT count(*) FROM verification_attempts")


async def test_the_answer_is_the_same_whether_the_address_is_registered(
    identity, identity_app, fakes, several_a_minute
):
    member = await register(identity, login=False)
    stranger = next_phone()
    ttl = dt.timedelta(seconds=identity_app.settings.verification_code_ttl_seconds)
    answers: dict[str, list] = {member.phone: [], stranger: []}
    for phone in answers:
        for purpose in (REGISTER, SIGN_IN, CLOSE):
            asked = dt.datetime.now(dt.UTC)
            response = await identity.SendVerificationCode(
                pb.SendVerificationCodeRequest(phone=phone, purpose=purpose)
            )
            lasts = response.expire_time.ToDatetime(dt.UTC) - asked
            answers[phone].append(([f.name for f, _ in response.ListFields()], lasts // ttl))
    assert answers[member.phone] == answers[stranger] == [(["expire_time"], 1)] * 3
    # Both got their codes (the member one more, from registering): what a code is good for,
    # only the address's owner finds out.
    assert len(fakes.codes.to(member.phone)) == 4 and len(fakes.codes.to(stranger)) == 3


async def test_sends_are_limited_per_address(identity, identity_app, clock, fakes):
    s = identity_app.settings
    phone = next_phone()
    await code_for(identity, phone)
    failure = await fails(
        identity.SendVerificationCode(pb.SendVerificationCodeRequest(phone=phone, purpose=SIGN_IN)),
        LIMITED,
        "RATE_LIMITED",
    )
    assert failure.retry_seconds and failure.retry_seconds <= 60
    assert len(fakes.codes.to(phone)) == 1  # refused: nothing was sent
    for _ in range(s.codes_per_address_hour - 1):
        clock.advance(minutes=1)
        await code_for(identity, phone)
    clock.advance(minutes=1)
    failure = await fails(
        identity.SendVerificationCode(
            pb.SendVerificationCodeRequest(phone=phone, purpose=REGISTER)
        ),
        LIMITED,
        "RATE_LIMITED",
    )
    assert 60 < failure.retry_seconds <= 3600
    # The same number written otherwise is the same address; another address counts apart.
    await fails(
        identity.SendVerificationCode(
            pb.SendVerificationCodeRequest(phone=f"+86 {phone}", purpose=REGISTER)
        ),
        LIMITED,
        "RATE_LIMITED",
    )
    await code_for(identity, next_phone())


async def test_sends_are_limited_per_caller(identity, identity_app, mint, monkeypatch):
    monkeypatch.setattr(identity_app.settings, "codes_per_source_hour", 3)
    for _ in range(3):
        await code_for(identity, next_phone())
    await fails(
        identity.SendVerificationCode(
            pb.SendVerificationCodeRequest(phone=next_phone(), purpose=REGISTER)
        ),
        LIMITED,
        "RATE_LIMITED",
    )
    # An operator client is a caller of its own.
    await identity.SendVerificationCode(
        pb.SendVerificationCodeRequest(phone=next_phone(), purpose=REGISTER),
        metadata=mint("crm-1", "operator", ["identity:write"]),
    )


async def test_a_sender_that_fails_is_unavailable(identity, fakes):
    fakes.codes.failing = True
    failure = await fails(
        identity.SendVerificationCode(
            pb.SendVerificationCodeRequest(phone=next_phone(), purpose=REGISTER)
        ),
        grpc.StatusCode.UNAVAILABLE,
        "CODE_NOT_SENT",
    )
    assert failure.retry_seconds


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (pb.SendVerificationCodeRequest(purpose=REGISTER), ["phone"]),
        (
            pb.SendVerificationCodeRequest(
                phone="13812345678", email="a@example.com", purpose=REGISTER
            ),
            ["phone"],
        ),
        (pb.SendVerificationCodeRequest(phone="12345", purpose=REGISTER), ["phone"]),
        (pb.SendVerificationCodeRequest(email="not-an-address", purpose=REGISTER), ["email"]),
        (pb.SendVerificationCodeRequest(phone="13812345678"), ["purpose"]),
        (pb.SendVerificationCodeRequest(phone="13812345678", purpose=99), ["purpose"]),
    ],
)
async def test_bad_send_requests_are_invalid_and_send_nothing(
    identity, identity_app, fakes, request_, fields
):
    before = await snapshot(identity_app.pool)
    await fails(identity.SendVerificationCode(request_), INVALID, fields=fields)
    assert await snapshot(identity_app.pool) == before and not fakes.codes.sent


# ---------------------------------------------------------------- signing in with a code


async def test_a_member_signs_in_with_a_code_instead_of_the_password(
    identity, identity_app, several_a_minute
):
    member = await register(identity, login=False, email="li.lei@example.com")
    code = await code_for(identity, member.phone, SIGN_IN)
    signed_in = await identity.Login(
        pb.LoginRequest(identifier=member.phone, verification_code=code)
    )
    assert signed_in.member_id == member.member_id and signed_in.tokens.refresh_token
    # Once.
    await fails(
        identity.Login(pb.LoginRequest(identifier=member.phone, verification_code=code)),
        UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )
    # By e-mail too.
    code = await code_for(identity, "Li.Lei@example.com", SIGN_IN)
    by_email = await identity.Login(
        pb.LoginRequest(identifier="li.lei@example.com", verification_code=code)
    )
    assert by_email.member_id == member.member_id


async def test_a_member_without_a_password_signs_in_with_a_code(identity, mint):
    phone = next_phone()
    desk = mint("desk-1", "operator", ["identity:write"])
    request = registration(phone, channel=res.REGISTRATION_CHANNEL_STORE_DESK, password="")
    member = (await identity.RegisterMember(request, metadata=desk)).member
    code = await code_for(identity, phone, SIGN_IN)
    signed_in = await identity.Login(pb.LoginRequest(identifier=phone, verification_code=code))
    assert signed_in.member_id == member.member_id


async def test_wrong_codes_and_unknown_addresses_answer_alike(
    identity, identity_app, several_a_minute
):
    member = await register(identity, login=False)
    stranger = next_phone()
    answers = {}
    for phone in (member.phone, stranger):
        right = await code_for(identity, phone, SIGN_IN)
        attempt = pb.LoginRequest(identifier=phone, verification_code=wrong(right))
        answers[phone] = [(await fails(identity.Login(attempt), UNAUTHENTICATED)).reason]
    assert answers[member.phone] == answers[stranger] == ["INVALID_CREDENTIALS"]
    # The right code of an address nobody registered signs nobody in, alike.
    code = await code_for(identity, stranger, SIGN_IN)
    await fails(
        identity.Login(pb.LoginRequest(identifier=stranger, verification_code=code)),
        UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )
    # A code sent to register (or to close) does not sign in.
    for purpose in (REGISTER, CLOSE):
        code = await code_for(identity, member.phone, purpose)
        await fails(
            identity.Login(pb.LoginRequest(identifier=member.phone, verification_code=code)),
            UNAUTHENTICATED,
            "INVALID_CREDENTIALS",
        )


async def test_a_closed_member_cannot_sign_in_with_a_code(identity, mint, several_a_minute):
    member = await register(identity, login=False)
    await identity.CloseMember(
        pb.CloseMemberRequest(request_id=uid(), member_id=member.member_id),
        metadata=mint("risk-desk", "operator", ["identity:admin"]),
    )
    code = await code_for(identity, member.phone, SIGN_IN)
    await fails(
        identity.Login(pb.LoginRequest(identifier=member.phone, verification_code=code)),
        UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )


@pytest.mark.parametrize(
    ("password", "code", "fields"),
    [
        ("", "", ["password"]),
        (PASSWORD, "123456", ["verification_code"]),
        ("", "12345", ["verification_code"]),
        ("", "abcdef", ["verification_code"]),
    ],
)
async def test_bad_login_input(identity, password, code, fields):
    await fails(
        identity.Login(
            pb.LoginRequest(identifier="13812345678", password=password, verification_code=code)
        ),
        INVALID,
        fields=fields,
    )


async def test_registration_replays_need_no_new_code(identity, identity_app):
    """A replay of a registration whose code is used up gets the first answer, not a refusal."""
    request = await proven(identity, registration(next_phone()))
    first = await identity.RegisterMember(request)
    assert await identity.RegisterMember(request) == first
    assert await members(identity_app) == 1


async def test_the_development_sender_writes_codes_to_files_never_to_the_log(
    identity, identity_app, monkeypatch, tmp_path, log_capture
):
    directory = tmp_path / "dev-codes"
    monkeypatch.setattr(identity_app.deps, "codes", DevFileSender(directory))
    start = len(log_capture.lines)
    phone, email = next_phone(), "o/dd+tag@example.com"
    for address in (phone, email):
        field = "email" if "@" in address else "phone"
        await identity.SendVerificationCode(
            pb.SendVerificationCodeRequest(purpose=REGISTER, **{field: address})
        )
    by_phone = directory / f"+86{phone}"
    by_email = directory / "o_dd+tag@example.com"  # no '/' in a file name
    assert sorted(p.name for p in directory.iterdir()) == sorted([by_phone.name, by_email.name])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    written = {}
    for path in (by_phone, by_email):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        written[path] = path.read_text().strip()
        assert re.fullmatch(r"[0-9]{6}", written[path])
    # The file holds the code that works.
    registered = await identity.RegisterMember(registration(phone, written[by_phone]))
    assert registered.member.member_id
    untimed = "\n".join(
        json.dumps({k: v for k, v in json.loads(line).items() if k != "timestamp"})
        for line in log_capture.lines[start:]
    )
    assert untimed  # the calls were logged
    for code in written.values():
        assert not re.search(rf"(?<![0-9]){code}(?![0-9])", untimed)
