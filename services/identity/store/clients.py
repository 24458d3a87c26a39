"""Operator and service clients: credentials for client tokens."""

from __future__ import annotations

from dataclasses import dataclass

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


async def insert(conn, client: ClientRow) -> None:
    """Raises ClientExists when the id is taken."""
    with db.duplicates({"clients_pkey": ClientExists}):
        async with conn.transaction():  # a savepoint: the caller's transaction survives
            await conn.execute(
                "INSERT INTO clients (client_id, kind, secret_hash, scopes, roles, display_name)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                client.client_id,
                client.kind,
                client.secret_hash,
                list(client.scopes),
                list(client.roles),
                client.display_name,
            )


async def get(conn, client_id: str) -> ClientRow | None:
    row = await conn.fetchrow(
        "SELECT client_id, kind, secret_hash, scopes, roles, display_name FROM clients"
        " WHERE client_id = $1",
        client_id,
    )
    if row is None:
        return None
    return ClientRow(
        row["client_id"],
        row["kind"],
        row["secret_hash"],
        tuple(row["scopes"]),
        tuple(row["roles"]),
        row["display_name"],
    )
