"""Revoked access tokens: a deny list every service keeps, fed by identity's events.

An access token is verified locally and lives up to its expiry (15 minutes for a member, an hour
for a client), so freezing or closing a member, a refresh token coming back twice, or disabling a
client would otherwise leave its tokens working everywhere until then. Identity publishes those
events; every service (identity too) applies them to its own `revocations` table through a
consumer the kit adds (queue `<svc>.revocations`, without the inbox: applying a revocation twice
changes nothing): per subject, every access token issued at or before an instant is void. The
verifier checks an in-memory copy on every call, cached tokens included, and answers
`UNAUTHENTICATED` / `TOKEN_REVOKED`.

The copy is read whole when the process starts (a restart or a new replica knows every
revocation at once) and kept current by NOTIFY: the table's trigger sends each new or moved row
to every replica's listener (the replicas share the queue, so only one of them applies an event),
and a TRUNCATE tells them to read the table again. A listener that lost its connection reconnects
and reads the table again within `check_seconds`; the whole table is read again every
`reload_seconds` besides. A revocation is kept `retention_seconds` (longer than any token lives)
and then pruned by an hourly job.

Later revocations of one subject move its instant forward, never back: unfreezing a member lifts
nothing (tokens issued before the freeze stay void; the member signs in again). Identity stamps
`iat` to the microsecond, so a token issued a moment after a revocation works; one whose `iat`
counts whole seconds (another signer) is void in the revocation's own second, before or after
it (one too many refused rather than one let through).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time

import asyncpg
from google.protobuf.message import Message
from prometheus_client import Counter, Gauge

from loyalty.identity.v1 import events_pb2 as identity
from services.kit import auth, events, ids, inbox, jobs, logging, timestamps
from services.kit.errors import Violations

log = logging.get("kit.revocations")

CHANNEL = "revocations"
MEMBER, CLIENT = "member", "client"

KNOWN = Gauge("token_revocations", "Subjects whose older access tokens this process refuses")
REFUSED = Counter("tokens_revoked_refused_total", "Calls refused because their token was revoked")

_RECORD = """
INSERT INTO revocations (kind, subject, revoked_before, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (kind, subject) DO UPDATE
    SET revoked_before = greatest(revocations.revoked_before, EXCLUDED.revoked_before),
        expires_at = greatest(revocations.expires_at, EXCLUDED.expires_at)
    WHERE EXCLUDED.revoked_before > revocations.revoked_before
       OR EXCLUDED.expires_at > revocations.expires_at
"""
_LOAD = """
SELECT kind, subject, extract(epoch FROM revoked_before)::float8 AS before,
       extract(epoch FROM expires_at)::float8 AS expires
FROM revocations WHERE expires_at > now()
"""

Key = tuple[str, str]  # (member | client, subject)
Entry = tuple[float, float]  # (tokens issued at or before: void, forget after), epoch seconds

# What voids whose tokens, and where the instant is in the payload.
_EVENTS: dict[type[Message], tuple[str, str, str]] = {
    identity.MemberFrozen: (MEMBER, "member_id", "frozen_time"),
    identity.MemberClosed: (MEMBER, "member_id", "closed_time"),
    identity.MemberSessionsRevoked: (MEMBER, "member_id", "revoked_time"),
    identity.ClientDisabled: (CLIENT, "client_id", "disabled_time"),
}


class Feed(inbox.Subscription):
    """The revoking events: consumed by a `Consumer`, not through the inbox."""


class Consumer(inbox.Consumer):
    """Applies each revocation in a transaction of its own, without an inbox record: recording
    a revocation again changes nothing (a subject's instant only moves forward), so a
    redelivery needs no bookkeeping. The service's own consumers of the same events (points
    applies member.frozen to its members) keep theirs, counted alone; and the transaction
    touches one table, so it cannot deadlock with a statement locking several."""

    async def apply(self, envelope: events.Envelope, handler: inbox.Handler | None) -> bool:
        if handler is not None:
            async with self.pool.acquire() as conn, conn.transaction():
                await handler(conn, envelope)
        return True


def kind_of(principal: auth.Principal) -> str:
    """Members and clients (operators, services) are revoked apart: their ids never mix."""
    return MEMBER if principal.kind == "member" else CLIENT


class Revocations:
    """The deny list of one process: `refuses` on every call (a dict look-up), `subscription`
    and `job` for the kit to run, `start`/`stop` around serving."""

    def __init__(
        self,
        retention_seconds: float = 86400,
        check_seconds: float = 1.0,
        reload_seconds: float = 60.0,
    ) -> None:
        self.retention = dt.timedelta(seconds=retention_seconds)
        self.check_seconds = check_seconds
        self.reload_seconds = reload_seconds
        self._entries: dict[Key, Entry] = {}
        self._pending: list[tuple[Key, Entry]] | None = None  # heard while the table is read
        self._dsn: str | None = None
        self._listener: asyncpg.Connection | None = None
        self._loaded = float("-inf")
        self._reread = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None

    # --- the verifier's question ------------------------------------------------------------
    def refuses(self, principal: auth.Principal, issued_at: float) -> bool:
        """Whether a token of `principal` issued at `issued_at` (its `iat`) is revoked."""
        entry = self._entries.get((kind_of(principal), principal.subject))
        if entry is None or issued_at > entry[0]:
            return False
        REFUSED.inc()
        return True

    # --- applying identity's events (in the consumer's transaction) ---------------------------
    def subscription(self, service: str) -> Feed:
        """The consumer of the revoking events, queue `<service>.revocations`."""
        subscription = Feed(f"{service}.revocations")
        for message_class, (kind, id_field, time_field) in _EVENTS.items():
            subscription.add(message_class, self._handler(kind, id_field, time_field))
        return subscription

    def _handler(self, kind: str, id_field: str, time_field: str):
        async def apply(conn: asyncpg.Connection, event: Message, envelope: events.Envelope):
            v = Violations()
            value = getattr(event, id_field)
            if kind == MEMBER:
                subject = str(v.uuid(id_field, value, "a member id"))
            else:
                subject = value
                v.check(ids.identifier(value) is not None, id_field, "must be a client id")
            when = timestamps.field(v, event, time_field)
            v.raise_malformed()
            # Without its own time (an older publisher), the event's: when it was written.
            await self.record(conn, kind, subject, when or envelope.time or timestamps.now())

        return apply

    async def record(
        self, conn: asyncpg.Connection, kind: str, subject: str, before: dt.datetime
    ) -> None:
        """Void `subject`'s tokens issued at or before `before` (a later instant wins)."""
        await conn.execute(_RECORD, kind, subject, before, before + self.retention)

    def job(self, interval_seconds: float = 3600) -> jobs.Job:
        async def prune(pool: asyncpg.Pool) -> None:
            status = await pool.execute("DELETE FROM revocations WHERE expires_at <= now()")
            log.info("revocations_pruned", rows=int(status.split()[-1]))

        return jobs.Job("kit-revocations", interval_seconds, prune)

    # --- the in-memory copy -----------------------------------------------------------------
    async def start(self, dsn: str) -> None:
        """Listen, then read the table (nothing committed in between is missed), then keep
        the copy current until `stop`."""
        self._dsn = dsn
        self._stopping.clear()
        self._listener = await self._listen()
        try:
            await self._load()
        except BaseException:
            await self._close()
            raise
        self._task = asyncio.create_task(self._run(), name="kit-revocations")

    async def stop(self) -> None:
        """Stop listening; nothing is left to finish (the copy is only read)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        await self._close()

    async def _listen(self) -> asyncpg.Connection:
        assert self._dsn is not None
        conn = await asyncpg.connect(self._dsn, timeout=5, command_timeout=10)
        try:
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            conn.terminate()
            raise
        return conn

    async def _close(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()

    async def _load(self) -> None:
        """Read the table whole; what a notification brings meanwhile is kept too."""
        assert self._listener is not None
        self._pending = []
        try:
            rows = await self._listener.fetch(_LOAD)
            fresh = {(r["kind"], r["subject"]): (r["before"], r["expires"]) for r in rows}
            for key, entry in self._pending:
                _merge(fresh, key, entry)
            self._entries = fresh
        finally:
            self._pending = None
        self._loaded = time.monotonic()
        KNOWN.set(len(self._entries))

    def _notified(self, _conn, _pid, _channel, payload: str) -> None:
        if not payload:  # the table was emptied: read it again
            self._reread.set()
            return
        try:
            row = json.loads(payload)
            key, entry = (
                (row["kind"], row["subject"]),
                (float(row["before"]), float(row["expires"])),
            )
        except (ValueError, KeyError, TypeError):
            log.warning("revocation_notice_unreadable")
            self._reread.set()
            return
        _merge(self._entries, key, entry)
        if self._pending is not None:
            self._pending.append((key, entry))
        KNOWN.set(len(self._entries))

    async def _run(self) -> None:
        stale = False  # the copy may miss something: read the table again
        while not self._stopping.is_set():
            # asyncio.timeout, not wait_for: wait_for of 3.11 may swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_seconds):
                    await self._reread.wait()
            if self._stopping.is_set():
                break
            stale = stale or self._reread.is_set()
            self._reread.clear()
            try:
                if self._listener is None or self._listener.is_closed():
                    await self._close()
                    self._listener = await self._listen()
                    stale = True  # notifications were missed while it was away
                if stale or time.monotonic() - self._loaded >= self.reload_seconds:
                    await self._load()
                    stale = False
            except Exception as exc:  # the database away: keep what is known, try again
                log.warning("revocations_not_refreshed", error=type(exc).__name__)
                await self._close()
                stale = True


def _merge(entries: dict[Key, Entry], key: Key, entry: Entry) -> None:
    """A subject's revocations only move forward (an older event arriving late changes nothing)."""
    known = entries.get(key)
    if known is None:
        entries[key] = entry
    else:
        entries[key] = (max(known[0], entry[0]), max(known[1], entry[1]))
