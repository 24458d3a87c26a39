"""Rate limits that hold across replicas: the state is in the service's own PostgreSQL database
(table `rate_limits`, kit migration 0003), so every replica counts the same hits.

A `Limit` allows `count` hits per `seconds` for one key (an account, a caller). The window
slides: a key's row keeps the time of each hit still inside the window (a sliding log), so "at
most 100 an hour" holds for every hour, not only for clock hours (a fixed window lets twice the
count through around its boundary), and a refusal says exactly when the next hit fits
(`RESOURCE_EXHAUSTED` with `RetryInfo`). A row holds at most `count` times: meant for limits of
up to a few thousand hits per window.

One statement takes all the hits of a call (`INSERT … ON CONFLICT DO UPDATE … WHERE` under the
limit `… RETURNING`). A refused hit is not counted, so hammering a refused key does not push its
window on; when one of several limits refuses, the hits the others counted are given back.

    taken = await limiter.take((PER_ACCOUNT, account), (PER_CALLER, ratelimit.source(peer, who)))
    ...
    await limiter.give_back(taken)  # e.g. after a success, where only failures count

Hits of one name and key share one log, each checked against its own limit's count: a caller
with `Limit("x", 80, 3600)` is refused while one with `Limit("x", 100, 3600)` still gets the
last 20, which reserves a share of the budget for the latter.

Keys are stored as given: a key naming a person (a phone number, an address) is pseudonymised by
the caller (a keyed hash). Rows whose hits have all left their window are pruned by the limiter
itself, a bounded batch at most every `prune_seconds`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import asyncpg

from . import auth, errors, logging, metrics

log = logging.get("kit.ratelimit")

MAX_KEY_LENGTH = 256
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class Limit:
    """At most `count` hits in any `seconds`; a count of 0 or less turns the limit off."""

    name: str
    count: int
    seconds: int

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 128:
            raise ValueError("a limit's name has 1 to 128 characters")
        if self.seconds <= 0:
            raise ValueError(f"limit {self.name}: the window must be positive")

    @property
    def off(self) -> bool:
        return self.count <= 0


@dataclass(frozen=True)
class Taken:
    """The hits one `take` counted (their limit names and keys, their time and how many on
    each), to give back."""

    at: dt.datetime
    hits: tuple[tuple[str, str], ...] = ()
    cost: int = 1


def retry_after(
    stamps: Iterable[dt.datetime], limit: Limit, now: dt.datetime, cost: int = 1
) -> int:
    """Whole seconds until `cost` more hits fit under `limit`, given the hits' times: until
    enough of the oldest hits still in the window have left it. At least 1."""
    since = now - dt.timedelta(seconds=limit.seconds)
    live = sorted(s for s in stamps if s > since)
    leaving = len(live) + cost - limit.count  # how many must leave the window first
    if leaving <= 0:
        return 1  # it fits already (the others' hits left meanwhile)
    free_at = live[leaving - 1] + dt.timedelta(seconds=limit.seconds)
    return max(1, math.ceil((free_at - now).total_seconds()))


def source(peer: str, principal: auth.Principal | None = None) -> str:
    """Who is calling, for limits per caller: an operator or service client by its id (one
    client may call on behalf of many people from one address); anyone else (no token, a
    member) by the network address in `context.peer()` (`ipv4:10.0.0.7:51234` → `ip:10.0.0.7`),
    an IPv6 address by its /64 (one host commonly holds a whole /64)."""
    if principal is not None and principal.kind != "member":
        return f"client:{principal.subject}"
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return f"peer:{kind[:32]}"  # a unix socket, an in-process channel: one source
    host = rest.rsplit(":", 1)[0].strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"peer:{host[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"ip:{address}"


_TAKE = """
INSERT INTO rate_limits AS r (name, key, stamps, max_hits, window_seconds, expires_at)
SELECT t.name, t.key, array_fill($1::timestamptz, ARRAY[$6::int]), t.count, t.seconds,
       $1::timestamptz + make_interval(secs => t.seconds)
FROM unnest($2::text[], $3::text[], $4::int[], $5::int[]) AS t(name, key, count, seconds)
ON CONFLICT (name, key) DO UPDATE SET
    stamps = ARRAY(
        SELECT s FROM unnest(r.stamps) AS s
        WHERE s > $1::timestamptz - make_interval(secs => EXCLUDED.window_seconds)
        ORDER BY s
    ) || EXCLUDED.stamps,
    max_hits = EXCLUDED.max_hits,
    window_seconds = EXCLUDED.window_seconds,
    expires_at = greatest(r.expires_at, EXCLUDED.expires_at)
WHERE (
    SELECT count(*) FROM unnest(r.stamps) AS s
    WHERE s > $1::timestamptz - make_interval(secs => EXCLUDED.window_seconds)
) + $6 <= EXCLUDED.max_hits
RETURNING r.name, r.key
"""

_STAMPS = """
SELECT r.name, r.key, r.stamps FROM rate_limits r
JOIN unnest($1::text[], $2::text[]) AS t(name, key) ON r.name = t.name AND r.key = t.key
"""

# Removes `cost` ($4) of the hits made at the take's time: others may share that time.
_GIVE_BACK = """
UPDATE rate_limits r SET stamps = ARRAY(
    SELECT u.s FROM unnest(r.stamps) WITH ORDINALITY AS u(s, i)
    WHERE u.i NOT IN (
        SELECT v.i FROM unnest(r.stamps) WITH ORDINALITY AS v(s, i)
        WHERE v.s = $1::timestamptz ORDER BY v.i LIMIT $4
    )
    ORDER BY u.i
)
FROM unnest($2::text[], $3::text[]) AS t(name, key)
WHERE r.name = t.name AND r.key = t.key
"""

_CLEAR = """
DELETE FROM rate_limits r USING unnest($1::text[], $2::text[]) AS t(name, key)
WHERE r.name = t.name AND r.key = t.key
"""

_PRUNE = """
DELETE FROM rate_limits
WHERE (name, key) IN (SELECT name, key FROM rate_limits WHERE expires_at < $1 LIMIT $2)
  AND expires_at < $1
"""


class RateLimiter:
    """Limits on one service database. `clock` gives the time of a hit (the service's clock:
    replicas agree on the time to well within any window; tests move it)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Callable[[], dt.datetime] | None = None,
        *,
        reason: str = "RATE_LIMITED",
        prune_seconds: float = 300.0,
    ) -> None:
        self.pool = pool
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.reason = reason
        self.prune_seconds = prune_seconds
        self._next_prune = time.monotonic() + prune_seconds

    async def take(
        self,
        *wanted: tuple[Limit, str],
        cost: int = 1,
        message: str = "too many attempts; try again later",
    ) -> Taken:
        """Count `cost` hits on each (limit, key), or on none: when any limit refuses, the hits
        counted on the others are given back and the call fails `RESOURCE_EXHAUSTED` (this
        limiter's reason) with a `RetryInfo` of the longest wait among the refusing limits."""
        now = self.clock()
        limits: dict[tuple[str, str], Limit] = {}
        for limit, key in wanted:
            if limit.off:
                continue
            if not key or len(key) > MAX_KEY_LENGTH:
                raise ValueError(f"limit {limit.name}: a key has 1 to {MAX_KEY_LENGTH} characters")
            if cost > limit.count:
                raise ValueError(f"limit {limit.name}: {cost} hits can never fit")
            if (limit.name, key) in limits:
                raise ValueError(f"limit {limit.name}: key {key!r} asked twice in one take")
            limits[(limit.name, key)] = limit
        if not limits:
            return Taken(now)
        names, keys = [n for n, _ in limits], [k for _, k in limits]
        rows = await self.pool.fetch(
            _TAKE,
            now,
            names,
            keys,
            [limit.count for limit in limits.values()],
            [limit.seconds for limit in limits.values()],
            cost,
        )
        taken = Taken(now, tuple((r["name"], r["key"]) for r in rows), cost)
        refused = [pair for pair in limits if pair not in set(taken.hits)]
        if refused:
            for name, _key in refused:
                metrics.RATE_LIMIT_REFUSALS.labels(name).inc()
            await self.give_back(taken)
            stamps = await self.pool.fetch(
                _STAMPS, [n for n, _ in refused], [k for _, k in refused]
            )
            wait = max(
                (
                    retry_after(r["stamps"], limits[(r["name"], r["key"])], now, cost)
                    for r in stamps
                ),
                default=1,
            )
            raise errors.resource_exhausted(self.reason, message, wait)
        await self._maybe_prune(now)
        return taken

    async def check(
        self, limit: Limit, key: str, message: str = "too many attempts; try again later"
    ) -> None:
        """Refuse (as `take` would) when `limit` has no room left for `key`, counting nothing:
        for limits on failures, counted (`take`) once a failure is known, so that attempts in
        flight hold no place in the window."""
        if limit.off:
            return
        now = self.clock()
        rows = await self.pool.fetch(_STAMPS, [limit.name], [key])
        stamps = rows[0]["stamps"] if rows else []
        since = now - dt.timedelta(seconds=limit.seconds)
        if sum(1 for s in stamps if s > since) >= limit.count:
            metrics.RATE_LIMIT_REFUSALS.labels(limit.name).inc()
            raise errors.resource_exhausted(self.reason, message, retry_after(stamps, limit, now))

    async def give_back(self, taken: Taken) -> None:
        """Uncount the hits of a `take` (for example when only failures are to count)."""
        if taken.hits:
            await self.pool.execute(
                _GIVE_BACK,
                taken.at,
                [n for n, _ in taken.hits],
                [k for _, k in taken.hits],
                taken.cost,
            )

    async def clear(self, *pairs: tuple[Limit, str]) -> None:
        """Forget every hit of each (limit, key)."""
        if pairs:
            await self.pool.execute(
                _CLEAR, [limit.name for limit, _ in pairs], [key for _, key in pairs]
            )

    async def prune(self, now: dt.datetime | None = None, batch: int = PRUNE_BATCH) -> int:
        """Delete up to `batch` rows whose hits have all left their window; how many went."""
        status = await self.pool.execute(_PRUNE, now or self.clock(), batch)
        return int(status.split()[-1])

    async def _maybe_prune(self, now: dt.datetime) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self.prune_seconds
        try:
            removed = await self.prune(now)
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            # Housekeeping only: the hit is counted; the next period tries again.
            log.warning("rate_limit_prune_failed", error=type(exc).__name__)
        else:
            if removed:
                log.info("rate_limits_pruned", rows=removed)
