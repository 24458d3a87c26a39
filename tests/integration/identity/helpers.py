"""Helpers for identity's integration tests: members signed in, codes and assertions from the
fakes (tests/support/identity_fakes.py, plugged by conftest.py), identity's errors, snapshots."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import grpc

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support import grpc_errors, identity_fakes, snapshots
from tests.support.grpc_errors import Failure
from tests.support.ids import uid

PASSWORD = "s3cret-pass"
FROZEN = "loyalty.identity.member.frozen.v1"
UNFROZEN = "loyalty.identity.member.unfrozen.v1"
CLOSED = "loyalty.identity.member.closed.v1"
VERIFIED = "loyalty.identity.member.verified.v1"
PROFILE_UPDATED = "loyalty.identity.member.profile_updated.v1"
LINKED = "loyalty.identity.member.account_linked.v1"
UNLINKED = "loyalty.identity.member.account_unlinked.v1"
REGISTERED = "loyalty.identity.member.registered.v1"

_phones = itertools.count(1)


def bearer(token: str) -> tuple:
    return (("authorization", f"Bearer {token}"),)


def next_phone() -> str:
    """A fresh valid mainland mobile number (national form)."""
    return f"139{next(_phones):08d}"


@dataclass
class Member:
    member_id: str
    phone: str  # as registered (national form)
    password: str
    tokens: res.TokenPair | None

    @property
    def auth(self) -> tuple:
        return bearer(self.tokens.access_token)

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(self.member_id)


REGISTER = res.VERIFICATION_PURPOSE_REGISTER
SIGN_IN = res.VERIFICATION_PURPOSE_SIGN_IN
CLOSE = res.VERIFICATION_PURPOSE_CLOSE_MEMBER


async def code_for(stub, address: str, purpose: int = REGISTER) -> str:
    """A code identity sends to `address` (a phone number, or an e-mail address), from the
    fake sender."""
    return await identity_fakes.code_for(stub, identity_fakes.codes, address, purpose)


async def proven(stub, request: pb.RegisterMemberRequest) -> pb.RegisterMemberRequest:
    """The registration with the codes identity sent to its phone number and e-mail address."""
    return await identity_fakes.proven(stub, identity_fakes.codes, request)


def assertion(provider: str, subject: str) -> str:
    """What `provider` gives a client to vouch that its user is `subject` (the fake signs)."""
    return identity_fakes.assertions.sign(provider, subject)


def link_request(
    member_id: str, provider: str = "wechat", asserted: str = "wx-openid-1", **kw
) -> pb.LinkAccountRequest:
    """LinkAccount of the account that `provider` vouches is `asserted` (`kw`: more fields,
    e.g. the `subject` the caller expects)."""
    kw.setdefault("request_id", uid())
    kw.setdefault("assertion", assertion(provider, asserted))
    return pb.LinkAccountRequest(member_id=member_id, provider=provider, **kw)


async def register(stub, *, login: bool = True, phone: str | None = None, **kw) -> Member:
    """Register through the API (APP channel), proving the phone number (and the e-mail
    address, if any) with codes, and, by default, sign in."""
    phone = phone or next_phone()
    kw.setdefault("password", PASSWORD)
    if "phone_verification_code" not in kw:
        kw["phone_verification_code"] = await code_for(stub, phone)
    if kw.get("email") and "email_verification_code" not in kw:
        kw["email_verification_code"] = await code_for(stub, kw["email"])
    response = await stub.RegisterMember(
        pb.RegisterMemberRequest(
            request_id=uid(), phone=phone, channel=res.REGISTRATION_CHANNEL_APP, **kw
        )
    )
    member = Member(response.member.member_id, phone, kw["password"], None)
    if login:
        signed_in = await stub.Login(pb.LoginRequest(identifier=phone, password=member.password))
        assert signed_in.member_id == member.member_id
        member.tokens = signed_in.tokens
    return member


async def fails(
    call, code: grpc.StatusCode, reason: str | None = None, fields: list[str] | None = None
) -> Failure:
    """Await `call`, which must fail as identity fails: with `code` (and `reason`, and exactly
    `fields`), in identity's domain, and without a traceback in the message."""
    failure = await grpc_errors.fails(call, code, reason, fields, domain="identity.loyalty")
    assert "Traceback" not in failure.message
    return failure


async def member_row(pool, member_id: str):
    return await pool.fetchrow("SELECT * FROM members WHERE member_id = $1", uuid.UUID(member_id))


async def outbox_types(pool, member_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT event_type FROM outbox WHERE subject = $1 ORDER BY created_at, id", member_id
    )
    return [r["event_type"] for r in rows]


async def snapshot(pool) -> dict:
    """Every row of the tables an identity call can change, to prove a refusal changed nothing.

    The outbox is compared without the relay's bookkeeping (published_at, attempts, …), which
    changes on its own."""
    return await snapshots.snapshot(
        pool,
        "members",
        "member_tags",
        "linked_accounts",
        "refresh_tokens",
        "clients",
        "audit_log",
        "idempotency",
        "verification_codes",  # its tries (verification_attempts) count on refusals too
        outbox="SELECT id, event_type, subject, payload FROM outbox",
    )
