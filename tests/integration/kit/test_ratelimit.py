"""The kit's rate limiter: a sliding window per key in PostgreSQL, so that every replica (every
limiter on one database) counts the same hits; refusals are RESOURCE_EXHAUSTED with RetryInfo."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest

from services.kit import auth, db, errors
from services.kit.clock import Clock
from services.kit.ratelimit import Limit, RateLimiter, retry_after, source
from tests.support.grpc_errors import assert_error

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
THREE_A_MINUTE = Limit("test.three", 3, 60)


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.set(T0)
    return clock


@pytest.fixture
def limiter(kit_db, clock) -> RateLimiter:
    return RateLimiter(kit_db, clock)


async def refused(call) -> float:
    """`call` fails RESOURCE_EXHAUSTED / RATE_LIMITED; the seconds its RetryInfo asks for."""
    with pytest.raises(errors.AppError) as err:
        await call
    failure = assert_error(err, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    assert failure.retry_seconds is not None
    return failure.retry_seconds


async def hits(pool, name: str, key: str) -> int:
    stamps = await pool.fetchval(
        "SELECT stamps FROM rate_limits WHERE name = $1 AND key = $2", name, key
    )
    return len(stamps or [])


async def test_a_limit_allows_its_count_then_refuses_until_the_window_passes(limiter, clock):
    for _ in range(3):
        await limiter.take((THREE_A_MINUTE, "alice"))
    assert await refused(limiter.take((THREE_A_MINUTE, "alice"))) == 60
    clock.advance(seconds=45)
    assert await refused(limiter.take((THREE_A_MINUTE, "alice"))) == 15
    clock.advance(seconds=15, microseconds=1)
    await limiter.take((THREE_A_MINUTE, "alice"))  # the first three left the window together
    await limiter.take((THREE_A_MINUTE, "bob"))  # keys are counted apart


async def test_the_window_slides_hit_by_hit(limiter, clock):
    for _ in range(3):
        await limiter.take((THREE_A_MINUTE, "alice"))
        clock.advance(seconds=20)
    # Hits at 0 s, 20 s and 40 s; now 60 s: the first has just left the window.
    await limiter.take((THREE_A_MINUTE, "alice"))
    assert await refused(limiter.take((THREE_A_MINUTE, "alice"))) == 20
    clock.advance(seconds=20, microseconds=1)
    await limiter.take((THREE_A_MINUTE, "alice"))


async def test_at_most_the_count_in_any_window_not_only_in_clock_windows(limiter, clock):
    """A fixed window would let 2 × 3 hits through around a window boundary."""
    clock.set(T0 + dt.timedelta(seconds=59))
    for _ in range(3):
        await limiter.take((THREE_A_MINUTE, "alice"))
    clock.set(T0 + dt.timedelta(seconds=61))
    assert await refused(limiter.take((THREE_A_MINUTE, "alice"))) == 58


async def test_refused_hits_do_not_count_nor_push_the_window_on(limiter, clock, kit_db):
    for _ in range(3):
        await limiter.take((THREE_A_MINUTE, "alice"))
    for _ in range(20):
        clock.advance(seconds=2)
        await refused(limiter.take((THREE_A_MINUTE, "alice")))
    assert await hits(kit_db, "test.three", "alice") == 3
    clock.set(T0 + dt.timedelta(seconds=60, microseconds=1))
    await limiter.take((THREE_A_MINUTE, "alice"))


async def test_two_limiters_on_one_database_behave_as_one(kit_dsn, kit_db, clock):
    """Two replicas: each has its own pool and limiter, and they share the counts."""
    other_pool = await db.create_pool(kit_dsn, min_size=1, max_size=10)
    try:
        first, second = RateLimiter(kit_db, clock), RateLimiter(other_pool, clock)
        await first.take((THREE_A_MINUTE, "alice"))
        await second.take((THREE_A_MINUTE, "alice"))
        await first.take((THREE_A_MINUTE, "alice"))
        assert await refused(second.take((THREE_A_MINUTE, "alice"))) == 60
        assert await refused(first.take((THREE_A_MINUTE, "alice"))) == 60

        # Concurrent hits from both: exactly the limit's count gets through.
        ten = Limit("test.ten", 10, 60)
        results = await asyncio.gather(
            *((first if i % 2 else second).take((ten, "carol")) for i in range(40)),
            return_exceptions=True,
        )
        allowed = [r for r in results if not isinstance(r, BaseException)]
        denied = [r for r in results if isinstance(r, errors.AppError)]
        assert (len(allowed), len(denied)) == (10, 30)
        assert await hits(kit_db, "test.ten", "carol") == 10
    finally:
        await other_pool.close()


async def test_when_one_limit_refuses_the_hits_on_the_others_are_given_back(limiter, clock, kit_db):
    per_caller = Limit("test.caller", 2, 60)
    await limiter.take((per_caller, "peer-1"))
    await limiter.take((per_caller, "peer-1"))
    await refused(limiter.take((THREE_A_MINUTE, "alice"), (per_caller, "peer-1")))
    assert await hits(kit_db, "test.three", "alice") == 0
    assert await hits(kit_db, "test.caller", "peer-1") == 2


async def test_the_longest_wait_among_refusing_limits_is_the_retry(limiter, clock):
    hourly = Limit("test.hourly", 1, 3600)
    await limiter.take((THREE_A_MINUTE, "alice"), (hourly, "alice"))
    await limiter.take((THREE_A_MINUTE, "alice"))
    await limiter.take((THREE_A_MINUTE, "alice"))
    assert await refused(limiter.take((THREE_A_MINUTE, "alice"), (hourly, "alice"))) == 3600


async def test_give_back_uncounts_and_clear_forgets(limiter, clock, kit_db):
    taken = await limiter.take((THREE_A_MINUTE, "alice"), (THREE_A_MINUTE, "bob"))
    await limiter.take((THREE_A_MINUTE, "alice"))
    await limiter.give_back(taken)
    assert await hits(kit_db, "test.three", "alice") == 1
    assert await hits(kit_db, "test.three", "bob") == 0
    await limiter.clear((THREE_A_MINUTE, "alice"))
    assert await hits(kit_db, "test.three", "alice") == 0


async def test_one_log_with_two_counts_reserves_a_share(limiter, clock):
    """Hits of one name and key share a log; each is checked against its own count."""
    strangers, known = Limit("test.shared", 3, 60), Limit("test.shared", 5, 60)
    for _ in range(3):
        await limiter.take((strangers, "account"))
    await refused(limiter.take((strangers, "account")))
    await limiter.take((known, "account"))
    await limiter.take((known, "account"))
    await refused(limiter.take((known, "account")))


async def test_a_limit_of_zero_is_off_and_a_cost_is_several_hits(limiter, clock, kit_db):
    for _ in range(10):
        await limiter.take((Limit("test.off", 0, 60), "alice"))
    assert await kit_db.fetchval("SELECT count(*) FROM rate_limits") == 0
    await limiter.take((THREE_A_MINUTE, "alice"), cost=2)
    assert await refused(limiter.take((THREE_A_MINUTE, "alice"), cost=2)) == 60
    await limiter.take((THREE_A_MINUTE, "alice"))
    with pytest.raises(ValueError):
        await limiter.take((THREE_A_MINUTE, "alice"), cost=4)  # could never fit


async def test_rows_out_of_their_window_are_pruned(kit_db, clock):
    limiter = RateLimiter(kit_db, clock, prune_seconds=0)  # prunes on every take
    await limiter.take((Limit("test.hour", 5, 3600), "old"), (THREE_A_MINUTE, "old"))
    clock.advance(seconds=61)
    await limiter.take((THREE_A_MINUTE, "new"))
    left = await kit_db.fetch("SELECT name, key FROM rate_limits ORDER BY name, key")
    assert [tuple(r) for r in left] == [("test.hour", "old"), ("test.three", "new")]
    clock.advance(hours=2)
    assert await limiter.prune() == 2
    assert await kit_db.fetchval("SELECT count(*) FROM rate_limits") == 0


def test_retry_after_counts_the_hits_that_must_leave_first():
    stamps = [T0, T0 + dt.timedelta(seconds=10), T0 + dt.timedelta(seconds=30)]
    now = T0 + dt.timedelta(seconds=40)
    assert retry_after(stamps, THREE_A_MINUTE, now) == 20
    assert retry_after(stamps, THREE_A_MINUTE, now, cost=2) == 30
    assert retry_after(stamps[:2], THREE_A_MINUTE, now) == 1  # fits already


@pytest.mark.parametrize(
    ("peer", "principal", "expected"),
    [
        ("ipv4:10.1.2.3:51234", None, "ip:10.1.2.3"),
        ("ipv6:[2001:db8:1:2:3:4:5:6]:443", None, "ip:2001:db8:1:2::/64"),
        ("ipv6:[2001:db8:1:2:ffff::9]:443", None, "ip:2001:db8:1:2::/64"),
        ("ipv6:[::ffff:10.1.2.3]:443", None, "ip:10.1.2.3"),
        ("unix:/tmp/socket", None, "peer:unix"),
        ("ipv4:10.1.2.3:1", auth.Principal("m-1", "member"), "ip:10.1.2.3"),
        ("ipv4:10.1.2.3:1", auth.Principal("storefront", "service"), "client:storefront"),
        ("ipv4:10.1.2.3:1", auth.Principal("ops-1", "operator"), "client:ops-1"),
    ],
)
def test_source_names_clients_by_id_and_others_by_address(peer, principal, expected):
    assert source(peer, principal) == expected
