"""IssueClientToken, CreateClient, ListClients, DisableClient, RotateClientSecret."""

from __future__ import annotations

from typing import TypeVar

import asyncpg

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import auth, errors, idempotency, paging, timestamps
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain import clients as rules
from ..usecases import clients
from . import checks, convert, scopes

# A response that shows a client's secret.
WithSecret = TypeVar("WithSecret", pb.CreateClientResponse, pb.RotateClientSecretResponse)


def _without_secret(response: WithSecret) -> WithSecret:
    """What a replay returns: the client, never its secret again (only the first call shows
    it, and it is stored nowhere)."""
    return type(response)(client=response.client)


async def issue_client_token(
    deps: IdentityDeps, request: pb.IssueClientTokenRequest, source: str
) -> pb.IssueClientTokenResponse:
    v = Violations()
    v.text("client_id", request.client_id, maximum=63)
    v.text("client_secret", request.client_secret, maximum=256)
    v.raise_if_any()
    token = await clients.issue_token(deps, request.client_id, request.client_secret, source)
    return pb.IssueClientTokenResponse(
        access_token=token.access_token,
        token_type="Bearer",
        expire_time=timestamps.to_proto(token.expires),
    )


def _check_client_id(v: Violations, client_id: str) -> None:
    problem = rules.client_id_problem(client_id)
    if problem:
        v.add("client_id", problem)


async def create_client(
    deps: IdentityDeps, request: pb.CreateClientRequest
) -> pb.CreateClientResponse:
    caller = auth.require_scope(scopes.ADMIN)
    checks.at_most("scopes", request.scopes, rules.MAX_SCOPES)
    checks.at_most("roles", request.roles, rules.MAX_ROLES)
    v = Violations()
    _check_client_id(v, request.client_id)
    kind = convert.CLIENT_KINDS.get(request.kind)
    v.check(kind is not None, "kind", "required: operator or service")
    for i, scope in enumerate(request.scopes):
        v.check(rules.scope_problem(scope) is None, f"scopes[{i}]", rules.SCOPE_RULE)
    for i, role in enumerate(request.roles):
        v.text(f"roles[{i}]", role, maximum=rules.ROLE_MAX)
    v.text("display_name", request.display_name, maximum=rules.DISPLAY_NAME_MAX, required=False)
    v.raise_if_any()
    assert kind is not None  # refused above
    missing = rules.not_held(request.scopes, caller.scopes)
    if missing:
        raise errors.permission_denied(
            "SCOPE_NOT_HELD", f"a caller grants only scopes it holds; not {' '.join(missing)}"
        )

    async def work(conn: asyncpg.Connection) -> pb.CreateClientResponse:
        client, secret = await clients.create(
            conn,
            client_id=request.client_id,
            kind=kind,
            scopes=request.scopes,
            roles=request.roles,
            display_name=request.display_name,
            actor=caller.label,
        )
        return pb.CreateClientResponse(client=convert.client(client), client_secret=secret)

    return await idempotency.once(deps.pool, request, work, stored=_without_secret)


async def list_clients(
    deps: IdentityDeps, request: pb.ListClientsRequest
) -> pb.ListClientsResponse:
    auth.require_scope(scopes.ADMIN)
    query: dict[str, object] = {}
    size = paging.size(request.page_size)
    after = paging.cursor(request.page_token, query, str)
    rows = await clients.page(deps, after=after, limit=size + 1)
    rows, token = paging.page(rows, size, query, key=lambda row: row.client_id)
    return pb.ListClientsResponse(
        clients=[convert.client(row) for row in rows], next_page_token=token
    )


async def disable_client(
    deps: IdentityDeps, request: pb.DisableClientRequest
) -> pb.DisableClientResponse:
    caller = auth.require_scope(scopes.ADMIN)
    v = Violations()
    _check_client_id(v, request.client_id)
    v.text("reason", request.reason, maximum=rules.REASON_MAX, required=False)
    v.raise_if_any()

    async def work(conn: asyncpg.Connection) -> pb.DisableClientResponse:
        client = await clients.disable(
            deps,
            conn,
            request.client_id,
            held=caller.scopes,
            actor=caller.label,
            reason=request.reason,
        )
        return pb.DisableClientResponse(client=convert.client(client))

    return await idempotency.once(deps.pool, request, work)


async def rotate_client_secret(
    deps: IdentityDeps, request: pb.RotateClientSecretRequest
) -> pb.RotateClientSecretResponse:
    caller = auth.require_scope(scopes.ADMIN)
    v = Violations()
    _check_client_id(v, request.client_id)
    v.raise_if_any()

    async def work(conn: asyncpg.Connection) -> pb.RotateClientSecretResponse:
        client, secret = await clients.rotate_secret(
            deps, conn, request.client_id, held=caller.scopes, actor=caller.label
        )
        return pb.RotateClientSecretResponse(client=convert.client(client), client_secret=secret)

    return await idempotency.once(deps.pool, request, work, stored=_without_secret)
