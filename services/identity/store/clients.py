"""Operator and service clients: credentials for client tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from services.kit import db


class ClientExists(db.Duplicate):
    pass


@dataclass(frozen=True)
class ClientRow:
    client_id: str
    kind: str  # operator | service
    secret_hash: bytes
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    display_name: str
    created_at: dt.datetime | None = None  # set by the database
    disabled_at: dt.datetime | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


_COLUMNS = "client_id, kind, secret_hash, scopes, roles, display_name, created_at, disabled_at"


def _client(row: asyncpg.Record) -> ClientRow:
    return ClientRow(
        row["client_id"],
        row["kind"],
        row["secret_hash"],
        tuple(row["scopes"]),
        tuple(row["roles"]),
        row["display_name"],
        row["created_at"],
        row["disabled_at"],
    )


async def insert(conn, client: ClientRow) -> ClientRow:
    """The client as stored; raises ClientExists when the id is taken."""
    with db.duplicates({"clients_pkey": ClientExists}):
        async with conn.transaction():  # a savepoint: the caller's transaction survives
            row = await conn.fetchrow(
                "INSERT INTO clients (client_id, kind, secret_hash, scopes, roles, display_name)"
                f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
                client.client_id,
                client.kind,
                client.secret_hash,
                list(client.scopes),
                list(client.roles),
                client.display_name,
            )
    return _client(row)


async def get(conn, client_id: str, *, lock: bool = False) -> ClientRow | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM clients WHERE client_id = $1{suffix}", client_id
    )
    return _client(row) if row else None


async def page(conn, *, after: str | None, limit: int) -> list[ClientRow]:
    """A page in client_id order."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM clients WHERE ($1::text IS NULL OR client_id > $1)"
        " ORDER BY client_id LIMIT $2",
        after,
        limit,
    )
    return [_client(r) for r in rows]


async def disable(conn, client_id: str, when: dt.datetime) -> ClientRow:
    row = await conn.fetchrow(
        f"UPDATE clients SET disabled_at = $2 WHERE client_id = $1 RETURNING {_COLUMNS}",
        client_id,
        when,
    )
    return _client(row)


async def set_secret(conn, client_id: str, secret_hash: bytes, when: dt.datetime) -> ClientRow:
    row = await conn.fetchrow(
        "UPDATE clients SET secret_hash = $2, secret_rotated_at = $3 WHERE client_id = $1"
        f" RETURNING {_COLUMNS}",
        client_id,
        secret_hash,
        when,
    )
    return _client(row)
