"""Operator and service clients: creating them, and trading their secret for a client token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from services.kit import audit, db, errors

from .. import crypto
from ..deps import IdentityDeps
from ..store import clients
from ..store.clients import ClientRow


@dataclass(frozen=True)
class ClientToken:
    access_token: str
    expires: dt.datetime


async def create(
    conn,
    *,
    client_id: str,
    kind: str,
    scopes: Sequence[str],
    roles: Sequence[str],
    display_name: str,
    actor: str,
) -> tuple[ClientRow, str]:
    """The client and its secret, which is shown once: only its hash is kept."""
    secret, secret_hash = crypto.opaque_token()
    client = ClientRow(
        client_id=client_id,
        kind=kind,
        secret_hash=secret_hash,
        scopes=tuple(sorted(set(scopes))),
        roles=tuple(sorted(set(roles))),
        display_name=display_name,
    )
    try:
        await clients.insert(conn, client)
    except clients.ClientExists as exc:
        raise errors.already_exists("CLIENT_ALREADY_EXISTS", "client id is taken") from exc
    await audit.record(
        conn,
        actor=actor,
        action="client.create",
        subject=client_id,
        detail={"client_id": client_id, "scopes": list(scopes)},  # as asked
    )
    return client, secret


async def bootstrap(deps: IdentityDeps, client_id: str, kind: str, scopes: Sequence[str]) -> str:
    """A client made from the command line (the first administrator); returns its secret."""
    async with db.transaction(deps.pool) as conn:
        _, secret = await create(
            conn,
            client_id=client_id,
            kind=kind,
            scopes=sorted(set(scopes)),
            roles=[],
            display_name=client_id,
            actor="cli",
        )
    return secret


async def issue_token(deps: IdentityDeps, client_id: str, secret: str) -> ClientToken:
    client = await clients.get(deps.pool, client_id)
    # Compared even for an unknown id (see secret_matches), which is refused only after.
    matches = crypto.secret_matches(client.secret_hash if client else None, secret)
    if client is None or not matches:
        raise errors.unauthenticated("INVALID_CLIENT_CREDENTIALS", "client id or secret is wrong")
    now = deps.now()
    ttl = deps.settings.client_token_ttl_seconds
    token = deps.signer.access_token(
        subject=client.client_id,
        kind=client.kind,
        ttl=ttl,
        now=now,
        scopes=list(client.scopes),
        roles=list(client.roles),
    )
    return ClientToken(token, now + dt.timedelta(seconds=ttl))
