"""PostgreSQL: database creation, migrations (yoyo, plain SQL), the asyncpg pool, transactions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from yoyo import get_backend, read_migrations

KIT_MIGRATIONS = Path(__file__).parent / "migrations"


async def ensure_database(dsn: str) -> None:
    """Create the service's database if the server does not have it yet."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _yoyo_url(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _migrate_sync(dsn: str, service_migrations: Path | None) -> int:
    backend = get_backend(_yoyo_url(dsn))
    sources = [KIT_MIGRATIONS] + ([service_migrations] if service_migrations else [])
    migrations = read_migrations(*map(str, sources))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return len(pending)


async def migrate(dsn: str, service_migrations: Path | None = None) -> int:
    """Apply the kit's and the service's forward-only SQL migrations; returns how many ran.

    Without `service_migrations` only the kit's tables are created (the kit's own tests)."""
    await ensure_database(dsn)
    return await asyncio.to_thread(_migrate_sync, dsn, service_migrations)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A connection given back to the pool keeps its session: asyncpg's default reset sends a
    query (unlock advisory locks, UNLISTEN, RESET ALL) on every release, one more round trip per
    call. An open transaction is still rolled back. The kit changes session state in two places
    only, and they undo it themselves or close the connection: jobs unlock their advisory lock,
    the outbox relay unlistens."""


async def create_pool(
    dsn: str, min_size: int = 2, max_size: int = 10, idle_seconds: float = 300.0
) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_inactive_connection_lifetime=idle_seconds,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
    )


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool):
    """One connection, one transaction: committed on success, rolled back on any error."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` says the database was briefly away or busy (unreachable, restarting, out of
    connections, a serialization failure or deadlock, a timeout), not that the work is wrong:
    the same work retried later can succeed, so it must never count against a message or turn
    into INTERNAL."""
    if isinstance(
        exc,
        OSError  # refused, reset, unreachable (ConnectionError is one)
        | TimeoutError  # no pooled connection in time, or a command timed out
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError  # shutting down, starting up, cancelled
        | asyncpg.exceptions.InsufficientResourcesError  # too many connections, disk full
        | asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock
    ):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


class Duplicate(Exception):
    """A unique constraint refused a write; a store names its own kinds by subclassing this."""


@contextlib.contextmanager
def duplicates(kinds: dict[str, type[Duplicate]]) -> Iterator[None]:
    """Turn a unique violation into the store's own error kind, chosen by constraint name, so
    that nothing above the store knows constraint names. An unlisted constraint stays a
    UniqueViolationError (a bug, not a caller's mistake)."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        kind = kinds.get(exc.constraint_name or "")
        if kind is None:
            raise
        raise kind(exc.constraint_name) from exc


_PARAMETER = re.compile(r"\$(\d+)")
# The statements that change existing rows, and the table they change.
_CHANGES_ROWS = re.compile(
    r"^\s*(?:UPDATE\s+(?:ONLY\s+)?|DELETE\s+FROM\s+(?:ONLY\s+)?)([\w.\"]+)", re.IGNORECASE
)
_UPSERT = re.compile(r"^\s*INSERT\s+INTO\s+([\w.\"]+).*\bDO\s+UPDATE\b", re.IGNORECASE | re.DOTALL)


@dataclass
class Result:
    """The rows a statement of a Batch returned, as dicts; filled in when the batch has run."""

    columns: Sequence[str]
    rows: list[dict] = field(default_factory=list)

    @property
    def row(self) -> dict | None:
        return self.rows[0] if self.rows else None


class BatchConflict(Exception):
    """Two statements of one Batch may change the same row (see Batch)."""


class Batch:
    """Several statements sent as one (data-modifying WITH queries): one round trip, not one each.

    All statements see the database as it was before the batch, none sees another's changes, and
    no row may be changed by two of them; so a statement must not depend on another's writes
    (ids are made in Python, not by the database). Constraints and triggers apply as usual and
    one failing statement fails them all. `execute` lets code written for a connection queue its
    writes here unchanged.

    The trap: when two statements of one batch change the same row, PostgreSQL applies only one
    of them, silently. So a second statement that updates, deletes or upserts rows of a table an
    earlier one changed is refused (BatchConflict) unless its author states that the rows are
    disjoint (`disjoint=True`: e.g. a hold's lots taken and another hold's lots given back).
    """

    def __init__(self) -> None:
        self._statements: list[tuple[str, Result | None]] = []
        self._args: list = []
        self._changed: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._statements)

    def add(
        self, sql: str, *args, returns: Sequence[str] = (), disjoint: bool = False
    ) -> Result | None:
        """Queue `sql` (parameters $1..$n); `returns` names its RETURNING (or SELECT) columns."""
        changes = _CHANGES_ROWS.match(sql) or _UPSERT.match(sql)
        if changes:
            table = changes.group(1).strip('"').lower()
            if table in self._changed and not disjoint:
                raise BatchConflict(
                    f"a second statement changes rows of {table} in one batch: PostgreSQL would "
                    "apply only one change to a row both touch; run it apart, or pass "
                    "disjoint=True if the rows cannot overlap"
                )
            self._changed.add(table)
        offset = len(self._args)
        sql = _PARAMETER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)
        result = Result(tuple(returns)) if returns else None
        self._statements.append((sql, result))
        self._args.extend(args)
        return result

    async def execute(self, sql: str, *args) -> str:
        self.add(sql, *args)
        return ""

    async def run(self, conn: asyncpg.Connection) -> None:
        """Send every queued statement at once; afterwards the batch is empty again."""
        if not self._statements:
            return
        statements, args = self._statements, self._args
        self._statements, self._args, self._changed = [], [], set()
        if len(statements) == 1 and statements[0][1] is None:
            await conn.execute(statements[0][0], *args)
            return
        parts = ", ".join(f"s{i} AS ({sql})" for i, (sql, _) in enumerate(statements))
        reads = [
            f"(SELECT array_agg(s{i}) FROM s{i}) AS r{i}"
            for i, (_, result) in enumerate(statements)
            if result is not None
        ]
        row = await conn.fetchrow(f"WITH {parts} SELECT {', '.join(reads) or 'NULL'}", *args)
        for i, (_, result) in enumerate(statements):
            if result is not None:
                result.rows = [
                    dict(zip(result.columns, r, strict=True)) for r in row[f"r{i}"] or []
                ]
