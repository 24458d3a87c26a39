"""Operator and service clients: creating, listing, disabling them and rotating their secret,
and trading a secret for a client token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loyalty.identity.v1 import events_pb2 as ev
from services.kit import audit, db, errors, timestamps

from .. import crypto
from ..deps import IdentityDeps
from ..domain import clients as rules
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
        stored = await clients.insert(conn, client)
    except clients.ClientExists as exc:
        raise errors.already_exists("CLIENT_ALREADY_EXISTS", "client id is taken") from exc
    await audit.record(
        conn,
        actor=actor,
        action="client.create",
        subject=client_id,
        detail={"client_id": client_id, "scopes": list(scopes)},  # as asked
    )
    return stored, secret


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


async def page(deps: IdentityDeps, *, after: str | None, limit: int) -> list[ClientRow]:
    async with deps.pool.acquire() as conn:
        return await clients.page(conn, after=after, limit=limit)


async def _managed(conn, client_id: str, held: Iterable[str]) -> ClientRow:
    """The client, locked; refused unless the caller holds every scope of it (else an
    administrator could take over a client more powerful than itself by rotating its secret)."""
    client = await clients.get(conn, client_id, lock=True)
    if client is None:
        raise errors.not_found("client", client_id)
    missing = rules.not_held(client.scopes, held)
    if missing:
        raise errors.permission_denied(
            "SCOPE_NOT_HELD", f"the client holds scopes the caller does not: {' '.join(missing)}"
        )
    return client


async def disable(
    deps: IdentityDeps, conn, client_id: str, *, held: Iterable[str], actor: str, reason: str
) -> ClientRow:
    """The client, disabled: its credentials are refused from now on. Disabling a disabled
    client changes nothing."""
    client = await _managed(conn, client_id, held)
    if client.disabled:
        return client
    disabled = await clients.disable(conn, client_id, deps.now())
    # Its access tokens issued until now are void in every service (kit.revocations).
    await deps.outbox.add(
        conn,
        client_id,
        ev.ClientDisabled(
            client_id=client_id, disabled_time=timestamps.to_proto(disabled.disabled_at)
        ),
    )
    await audit.record(
        conn, actor=actor, action="client.disable", subject=client_id, detail={"reason": reason}
    )
    return disabled


async def rotate_secret(
    deps: IdentityDeps, conn, client_id: str, *, held: Iterable[str], actor: str
) -> tuple[ClientRow, str]:
    """The client with a new secret, returned once; the old one stops working."""
    client = await _managed(conn, client_id, held)
    if client.disabled:
        raise errors.failed_precondition("CLIENT_DISABLED", "the client is disabled")
    secret, secret_hash = crypto.opaque_token()
    rotated = await clients.set_secret(conn, client_id, secret_hash, deps.now())
    await audit.record(conn, actor=actor, action="client.rotate_secret", subject=client_id)
    return rotated, secret


async def issue_token(deps: IdentityDeps, client_id: str, secret: str, source: str) -> ClientToken:
    """A client token for the right secret of an enabled client. Attempts per source are
    limited; wrong secrets per client id too, but a right one is never refused for them: a
    secret is 256 random bits, so a stranger guessing cannot find it, and must not be able to
    keep the client out by guessing."""
    limits = deps.limits
    await deps.limiter.take((limits.client_token_source, deps.pseudonym("source", source)))
    async with deps.pool.acquire() as conn:
        client = await clients.get(conn, client_id)
    # Compared even for an unknown id (see secret_matches), which is refused only after.
    matches = crypto.secret_matches(client.secret_hash if client else None, secret)
    if client is None or not matches or client.disabled:
        await deps.limiter.take((limits.client_token_failures, f"client:{client_id}"))
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
