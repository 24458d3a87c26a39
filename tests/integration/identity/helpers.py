"""Helpers for identity's integration tests: members signed in, identity's errors, snapshots."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import grpc

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support import grpc_errors, snapshots
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


async def register(stub, *, login: bool = True, phone: str | None = None, **kw) -> Member:
    """Register through the API (APP channel) and, by default, sign in."""
    phone = phone or next_phone()
    kw.setdefault("password", PASSWORD)
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
        outbox="SELECT id, event_type, subject, payload FROM outbox",
    )
