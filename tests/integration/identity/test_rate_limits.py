"""Rate limits of RegisterMember, LinkAccount and VerifyRealName, per account and per caller;
VerifyRealName asks its verifier only for a member that may still verify. (Login and
IssueClientToken: test_login_throttling, test_client_lifecycle.)"""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support import idnum
from tests.support.grpc_errors import failure_of
from tests.support.ids import uid

from .helpers import PASSWORD, fails, link_request, next_phone, proven, register

LIMITED = grpc.StatusCode.RESOURCE_EXHAUSTED
DESK = ("desk-1", "operator", ["identity:write"])


@pytest.fixture
def clock(identity_app):
    identity_app.deps.clock.set(dt.datetime.now(dt.UTC))
    return identity_app.deps.clock


async def answer(call) -> str:
    """ "OK" or the refusal's reason."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return failure_of(error).reason
    return "OK"


async def limited(call, window: int) -> None:
    failure = await fails(call, LIMITED, "RATE_LIMITED")
    assert failure.retry_seconds is not None and 0 < failure.retry_seconds <= window


@pytest.fixture
def unlimited_codes(identity_app, monkeypatch):
    """Codes sent without limit (they have theirs: test_verification_codes), so that every
    registration here gets a right one and only the registration limits are at work."""
    for name in ("codes_per_address_minute", "codes_per_address_hour", "codes_per_address_day"):
        monkeypatch.setattr(identity_app.settings, name, 0)
    monkeypatch.setattr(identity_app.settings, "codes_per_source_hour", 0)


def registration(phone: str | None = None, **kw) -> pb.RegisterMemberRequest:
    kw.setdefault("password", "s3cret-pass")
    kw.setdefault("channel", res.REGISTRATION_CHANNEL_APP)
    return pb.RegisterMemberRequest(request_id=uid(), phone=phone or next_phone(), **kw)


async def test_registrations_per_phone_number_are_limited(
    identity, identity_app, clock, unlimited_codes
):
    limit = identity_app.settings.registrations_per_identifier_hour
    phone = next_phone()

    async def register_phone() -> str:
        return await answer(identity.RegisterMember(await proven(identity, registration(phone))))

    answers = [await register_phone() for _ in range(limit)]
    assert answers == ["OK"] + ["PHONE_ALREADY_REGISTERED"] * (limit - 1)
    await limited(identity.RegisterMember(await proven(identity, registration(phone))), 3600)
    # The same address through another phone number counts apart (per identifier).
    await identity.RegisterMember(await proven(identity, registration()))
    clock.advance(hours=1, seconds=1)
    assert await register_phone() == "PHONE_ALREADY_REGISTERED"


async def test_registrations_with_wrong_codes_count_too(identity, identity_app):
    limit = identity_app.settings.registrations_per_identifier_hour
    phone = next_phone()
    wrong = registration(phone, phone_verification_code="000000")
    answers = {await answer(identity.RegisterMember(wrong)) for _ in range(limit)}
    assert answers == {"VERIFICATION_CODE_INVALID"}
    await limited(identity.RegisterMember(await proven(identity, registration(phone))), 3600)


async def test_registrations_count_the_email_address_too(identity, identity_app, unlimited_codes):
    limit = identity_app.settings.registrations_per_identifier_hour
    for _ in range(limit):
        request = registration(email="li.lei@example.com")
        await answer(identity.RegisterMember(await proven(identity, request)))
    again = await proven(identity, registration(email="LI.LEI@example.com"))
    await limited(identity.RegisterMember(again), 3600)


async def test_registrations_per_caller_are_limited_but_not_at_the_store_desk(
    identity, identity_app, mint, unlimited_codes
):
    limit = identity_app.settings.registrations_per_source_hour
    for _ in range(limit):
        await identity.RegisterMember(await proven(identity, registration()))
    await limited(identity.RegisterMember(await proven(identity, registration())), 3600)
    # Staff register many members from one client: counted per identifier only.
    desk = registration(channel=res.REGISTRATION_CHANNEL_STORE_DESK, password="")
    assert (await identity.RegisterMember(desk, metadata=mint(*DESK))).member.member_id


async def test_link_attempts_per_member_are_limited(identity, identity_app, clock):
    limit = identity_app.settings.link_attempts_per_member_hour
    member = await register(identity)
    answers = [
        await answer(
            identity.LinkAccount(
                link_request(member.member_id, "wechat", f"wx{i}"),
                metadata=member.auth,
            )
        )
        for i in range(limit)
    ]
    assert answers == ["OK"] + ["PROVIDER_ALREADY_LINKED"] * (limit - 1)
    request = link_request(member.member_id, "qq", "qq-1")
    await limited(identity.LinkAccount(request, metadata=member.auth), 3600)
    clock.advance(hours=1, seconds=1)
    linked = await identity.LinkAccount(request, metadata=member.auth)
    assert {a.provider for a in linked.member.linked_accounts} == {"wechat", "qq"}


async def test_link_attempts_per_caller_are_limited(identity, identity_app, mint):
    limit = identity_app.settings.link_attempts_per_source_hour
    per_member = identity_app.settings.link_attempts_per_member_hour
    members = [await register(identity) for _ in range(limit // per_member + 1)]
    for member in members[:-1]:
        for i in range(per_member):
            await answer(
                identity.LinkAccount(
                    link_request(member.member_id, "qq", f"{i}"),
                    metadata=member.auth,
                )
            )
    last = members[-1]
    request = link_request(last.member_id, "qq", "qq-last")
    await limited(identity.LinkAccount(request, metadata=last.auth), 3600)
    # An operator client is a caller of its own.
    linked = await identity.LinkAccount(
        request, metadata=mint("crm-1", "operator", ["identity:write"])
    )
    assert linked.member.linked_accounts[0].subject == "qq-last"


class CountingVerifier:
    """A real-name verifier that says what it is told to and counts the questions."""

    def __init__(self, problem: str | None = None) -> None:
        self.problem_text = problem
        self.asked = 0

    async def problem(self, legal_name: str, number: str) -> str | None:
        self.asked += 1
        return self.problem_text


@pytest.fixture
def verifier(identity_app, monkeypatch) -> CountingVerifier:
    counting = CountingVerifier()
    monkeypatch.setattr(identity_app.deps, "real_name", counting)
    return counting


def verification(member, seed: int) -> pb.VerifyRealNameRequest:
    return pb.VerifyRealNameRequest(
        request_id=uid(), member_id=member.member_id, legal_name="张三", id_number=idnum.make(seed)
    )


async def test_a_verified_closed_or_unknown_member_is_refused_before_the_verifier_is_asked(
    identity, verifier, mint
):
    member = await register(identity)
    first = verification(member, 40)
    verified = await identity.VerifyRealName(first, metadata=member.auth)
    assert verifier.asked == 1
    await fails(
        identity.VerifyRealName(verification(member, 41), metadata=member.auth),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ALREADY_VERIFIED",
    )
    assert await identity.VerifyRealName(first, metadata=member.auth) == verified  # a replay
    closed = await register(identity)
    await identity.CloseMember(
        pb.CloseMemberRequest(request_id=uid(), member_id=closed.member_id, password=PASSWORD),
        metadata=closed.auth,
    )
    await fails(
        identity.VerifyRealName(verification(closed, 42), metadata=closed.auth),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_CLOSED",
    )
    unknown = pb.VerifyRealNameRequest(
        request_id=uid(), member_id=str(uid()), legal_name="张三", id_number=idnum.make(43)
    )
    await fails(
        identity.VerifyRealName(unknown, metadata=mint("ops-1", "operator", ["identity:write"])),
        grpc.StatusCode.NOT_FOUND,
        "MEMBER_NOT_FOUND",
    )
    assert verifier.asked == 1


async def test_verification_attempts_per_member_are_limited_per_day(
    identity, identity_app, verifier, clock
):
    limit = identity_app.settings.real_name_attempts_per_member_day
    verifier.problem_text = "no such person"
    member = await register(identity)
    for seed in range(limit):
        await fails(
            identity.VerifyRealName(verification(member, 50 + seed), metadata=member.auth),
            grpc.StatusCode.FAILED_PRECONDITION,
            "REAL_NAME_REJECTED",
        )
    await limited(identity.VerifyRealName(verification(member, 60), metadata=member.auth), 86400)
    assert verifier.asked == limit  # the refused attempt never reached the verifier
    # Malformed numbers are refused before counting.
    bad = verification(member, 61)
    bad.id_number = bad.id_number[:17]
    await fails(
        identity.VerifyRealName(bad, metadata=member.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
        "ID_NUMBER_INVALID",
    )
    clock.advance(days=1, seconds=1)
    verifier.problem_text = None
    verified = await identity.VerifyRealName(verification(member, 62), metadata=member.auth)
    assert verified.member.verified and verifier.asked == limit + 1


async def test_verification_attempts_per_caller_are_limited(identity, identity_app, verifier):
    limit = identity_app.settings.real_name_attempts_per_source_hour
    per_member = identity_app.settings.real_name_attempts_per_member_day
    verifier.problem_text = "no such person"
    members = [await register(identity) for _ in range(limit // per_member + 1)]
    for i, member in enumerate(members[:-1]):
        for seed in range(per_member):
            await answer(
                identity.VerifyRealName(
                    verification(member, 100 + i * per_member + seed), metadata=member.auth
                )
            )
    assert verifier.asked == limit
    await limited(
        identity.VerifyRealName(verification(members[-1], 99), metadata=members[-1].auth), 3600
    )
    assert verifier.asked == limit
