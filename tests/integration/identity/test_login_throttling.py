"""Failed logins are throttled, not locked: at most 100 per account in any hour, a few per account
from one source, a bounded number per source; known and unknown identifiers answer alike; a
stranger cannot keep the owner out; no password is checked while a connection is held."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from tests.support.grpc_errors import failure_of

from .helpers import PASSWORD, fails, register

LIMITED = grpc.StatusCode.RESOURCE_EXHAUSTED
HERE = ()  # no token: the source is this test's address


@pytest.fixture
def clock(identity_app):
    """identity's clock, stopped at the current time; tests move it."""
    identity_app.deps.clock.set(dt.datetime.now(dt.UTC))
    return identity_app.deps.clock


def source(mint, name: str) -> tuple:
    """Another source: a service client calling Login is counted by its client id."""
    return mint(name, "service")


async def attempt(stub, identifier: str, password: str, metadata=HERE) -> tuple[str, float | None]:
    """("OK", None) or the refusal's (reason, RetryInfo seconds)."""
    try:
        await stub.Login(
            pb.LoginRequest(identifier=identifier, password=password), metadata=metadata
        )
    except grpc.aio.AioRpcError as error:
        failure = failure_of(error)
        return failure.reason, failure.retry_seconds
    return "OK", None


async def fail_times(stub, identifier: str, times: int, metadata=HERE) -> None:
    for _ in range(times):
        assert await attempt(stub, identifier, "wrong-pass1", metadata) == (
            "INVALID_CREDENTIALS",
            None,
        )


async def test_known_and_unknown_identifiers_answer_alike_in_reason_count_and_wait(identity, clock):
    member = await register(identity, login=False)
    answers = {}
    for name, identifier in (("known", member.phone), ("unknown", "13700000001")):
        answers[name] = [await attempt(identity, identifier, "wrong-pass1") for _ in range(8)]
    expected = [("INVALID_CREDENTIALS", None)] * 5 + [("RATE_LIMITED", 60.0)] * 3
    assert answers == {"known": expected, "unknown": expected}


async def test_one_source_gets_5_failures_a_minute_and_20_an_hour_on_one_account(identity, clock):
    member = await register(identity, login=False)
    start = clock.now()
    for minute in range(4):
        await fail_times(identity, member.phone, 5)
        # Refused, even with the right password, until the minute has passed; hammering does
        # not push the window on. After the 20th failure, until the first leaves the hour.
        wait = 60 if minute < 3 else 3600 - 3 * 61
        for _ in range(10):
            assert await attempt(identity, member.phone, PASSWORD) == ("RATE_LIMITED", wait)
        clock.advance(seconds=61)
    assert await attempt(identity, member.phone, PASSWORD) == ("RATE_LIMITED", 3600 - 4 * 61)
    clock.set(start + dt.timedelta(hours=1, seconds=1))
    assert await attempt(identity, member.phone, PASSWORD) == ("OK", None)


async def test_a_source_throttled_on_one_account_keeps_the_owner_and_other_accounts(
    identity, clock, mint
):
    victim, other = await register(identity, login=False), await register(identity, login=False)
    await fail_times(identity, victim.phone, 5)
    assert (await attempt(identity, victim.phone, PASSWORD))[0] == "RATE_LIMITED"
    assert await attempt(identity, other.phone, PASSWORD) == ("OK", None)
    # The owner, from elsewhere, signs in: the stranger's failures did not lock the account.
    assert await attempt(identity, victim.phone, PASSWORD, source(mint, "owner-phone")) == (
        "OK",
        None,
    )


async def test_a_success_forgets_the_failures_of_its_source(identity, clock):
    member = await register(identity, login=False)
    await fail_times(identity, member.phone, 4)
    assert await attempt(identity, member.phone, PASSWORD) == ("OK", None)
    await fail_times(identity, member.phone, 5)
    assert (await attempt(identity, member.phone, PASSWORD))[0] == "RATE_LIMITED"


async def test_at_most_100_failures_an_hour_per_account_and_strangers_cannot_keep_the_owner_out(
    identity, clock, mint
):
    owner = await register(identity, login=False)
    start = clock.now()
    # The owner signs in from two places: they become its known sources.
    home, office = HERE, source(mint, "owner-office")
    for place in (home, office):
        assert await attempt(identity, owner.phone, PASSWORD, place) == ("OK", None)
    failures = 0
    # Strangers from four sources fail 80 times in 4 minutes (5 a minute each).
    strangers = [source(mint, f"stranger-{i}") for i in range(8)]
    for _ in range(4):
        for stranger in strangers[:4]:
            await fail_times(identity, owner.phone, 5, stranger)
            failures += 5
        clock.advance(seconds=61)
    # New sources have used up their share: refused, even the right password, for the hour.
    for stranger in strangers[4:6]:
        reason, retry = await attempt(identity, owner.phone, PASSWORD, stranger)
        assert reason == "RATE_LIMITED"
        assert 3600 - 4 * 61 <= retry <= 3600 - 4 * 61 + 1
    # The owner, from a place it signed in from, still gets in.
    assert await attempt(identity, owner.phone, PASSWORD, home) == ("OK", None)
    # Failures from the known places use the last 20, and then the account takes no more.
    for _ in range(2):
        for place in (home, office):
            await fail_times(identity, owner.phone, 5, place)
            failures += 5
        clock.advance(seconds=61)
    assert failures == 100
    for place in (home, office, strangers[6]):
        for password in ("wrong-pass1", PASSWORD):
            assert (await attempt(identity, owner.phone, password, place))[0] == "RATE_LIMITED"
    # Each failure counts for an hour: the strangers' leave first, minute by minute.
    clock.set(start + dt.timedelta(hours=1, seconds=1))
    reason, retry = await attempt(identity, owner.phone, PASSWORD, strangers[7])
    assert reason == "RATE_LIMITED" and 0 < retry <= 61
    clock.set(start + dt.timedelta(hours=1, seconds=4 * 61 + 1))
    assert await attempt(identity, owner.phone, PASSWORD, strangers[7]) == ("OK", None)


async def test_failures_per_source_across_accounts_are_limited(identity, identity_app, clock, mint):
    limit = identity_app.settings.login_failures_per_source_hour
    member = await register(identity, login=False)
    for i in range(limit // 5):  # unknown identifiers count as accounts: 5 each, no waiting
        await fail_times(identity, f"1370000{i:04d}", 5)
    reason, retry = await attempt(identity, member.phone, PASSWORD)
    assert reason == "RATE_LIMITED" and 0 < retry <= 3600
    assert await attempt(identity, member.phone, PASSWORD, source(mint, "elsewhere")) == (
        "OK",
        None,
    )


class SlowPasswords:
    """The service's hasher, with checks as slow as a loaded node's."""

    def __init__(self, real, seconds: float) -> None:
        self.real, self.seconds = real, seconds

    async def hash(self, password: str) -> str:
        return await self.real.hash(password)

    async def verify(self, stored: str | None, password: str) -> bool:
        await asyncio.sleep(self.seconds)
        return await self.real.verify(stored, password)


async def test_no_connection_is_held_while_passwords_are_checked(
    identity, identity_app, mint, monkeypatch
):
    """Before: Login checked the password inside its transaction, so as many logins as the
    pool has connections starved every other call."""
    members = [
        await register(identity, login=False) for _ in range(identity_app.settings.pool_max + 2)
    ]
    monkeypatch.setattr(
        identity_app.deps, "passwords", SlowPasswords(identity_app.deps.passwords, 2)
    )
    logins = [
        asyncio.ensure_future(
            identity.Login(pb.LoginRequest(identifier=m.phone, password=PASSWORD), timeout=10)
        )
        for m in members
    ]
    try:
        await asyncio.sleep(0.3)  # every login is checking its password now
        got = await identity.GetMember(
            pb.GetMemberRequest(member_id=members[0].member_id),
            metadata=mint("ops-1", "operator", ["identity:read"]),
            timeout=1,
        )
        assert got.member.member_id == members[0].member_id
    finally:
        signed_in = await asyncio.gather(*logins, return_exceptions=True)
    assert [r.member_id for r in signed_in] == [m.member_id for m in members]


async def test_a_member_closed_while_its_password_is_checked_gets_no_tokens(
    identity, identity_app, mint, monkeypatch
):
    member = await register(identity)
    monkeypatch.setattr(
        identity_app.deps, "passwords", SlowPasswords(identity_app.deps.passwords, 1)
    )
    login = asyncio.ensure_future(
        identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD))
    )
    await asyncio.sleep(0.3)
    await identity.CloseMember(
        pb.CloseMemberRequest(request_id="close-1", member_id=member.member_id),
        # An operator: the member would prove itself with its password, as slow as the login's.
        metadata=mint("risk-desk", "operator", ["identity:admin"]),
    )
    await fails(login, grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    live = await identity_app.pool.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL"
    )
    assert live == 0
