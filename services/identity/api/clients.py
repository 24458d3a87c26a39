"""IssueClientToken, CreateClient."""

from __future__ import annotations

import re

import asyncpg

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import auth, idempotency, timestamps
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..usecases import clients
from . import convert, scopes

_CLIENT_ID = re.compile(r"^[a-z][a-z0-9-]{2,62}$")
_SCOPE = re.compile(r"^[a-z]+:[a-z_]+$")


async def issue_client_token(
    deps: IdentityDeps, request: pb.IssueClientTokenRequest
) -> pb.IssueClientTokenResponse:
    v = Violations()
    v.text("client_id", request.client_id, maximum=63)
    v.text("client_secret", request.client_secret, maximum=256)
    v.raise_if_any()
    token = await clients.issue_token(deps, request.client_id, request.client_secret)
    return pb.IssueClientTokenResponse(
        access_token=token.access_token,
        token_type="Bearer",
        expire_time=timestamps.to_proto(token.expires),
    )


async def create_client(
    deps: IdentityDeps, request: pb.CreateClientRequest
) -> pb.CreateClientResponse:
    auth.require_scope(scopes.ADMIN)
    v = Violations()
    v.check(
        bool(_CLIENT_ID.fullmatch(request.client_id)),
        "client_id",
        "3-63 characters: lower-case letters, digits, '-'",
    )
    kind = convert.CLIENT_KINDS.get(request.kind)
    v.check(kind is not None, "kind", "required: operator or service")
    for i, scope in enumerate(request.scopes):
        v.check(bool(_SCOPE.fullmatch(scope)), f"scopes[{i}]", "must look like 'points:grant'")
    for i, role in enumerate(request.roles):
        v.text(f"roles[{i}]", role, maximum=64)
    v.text("display_name", request.display_name, maximum=128, required=False)
    v.raise_if_any()
    assert kind is not None  # refused above

    async def work(conn: asyncpg.Connection) -> pb.CreateClientResponse:
        client, secret = await clients.create(
            conn,
            client_id=request.client_id,
            kind=kind,
            scopes=request.scopes,
            roles=request.roles,
            display_name=request.display_name,
            actor=auth.actor("anonymous"),
        )
        return pb.CreateClientResponse(client=convert.client(client), client_secret=secret)

    def without_secret(response: pb.CreateClientResponse) -> pb.CreateClientResponse:
        return pb.CreateClientResponse(client=response.client)  # a replay never shows it again

    return await idempotency.once(deps.pool, request, work, stored=without_secret)
