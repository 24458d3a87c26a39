"""Operator and service clients: created once with a secret, tokens from client credentials."""

from __future__ import annotations

import grpc
import jwt
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from services.identity import crypto
from tests.support.ids import uid

from .helpers import bearer, fails, register, snapshot

# An administrator holding the scopes the tests hand out (a caller grants only scopes it holds).
ADMIN = ("ops-root", "operator", ["identity:admin", "identity:read", "points:grant"])


def create_request(client_id="storefront-main", scopes=("identity:read",), **kw):
    kw.setdefault("request_id", uid())
    kw.setdefault("kind", res.CLIENT_KIND_SERVICE)
    return pb.CreateClientRequest(client_id=client_id, scopes=list(scopes), **kw)


async def test_create_client_returns_the_secret_once_and_stores_a_hash(
    identity, identity_app, mint
):
    request = create_request(
        scopes=["identity:read", "points:grant", "identity:read"],
        roles=["storefront"],
        display_name="Main storefront",
    )
    created = await identity.CreateClient(request, metadata=mint(*ADMIN))
    secret = created.client_secret
    assert len(secret) >= 43
    shown = res.Client()
    shown.CopyFrom(created.client)
    assert shown.HasField("create_time") and not shown.HasField("disable_time")
    shown.ClearField("create_time")
    assert shown == res.Client(
        client_id="storefront-main",
        kind=res.CLIENT_KIND_SERVICE,
        scopes=["identity:read", "points:grant"],
        roles=["storefront"],
        display_name="Main storefront",
        disabled=False,
    )
    row = await identity_app.pool.fetchrow("SELECT * FROM clients")
    assert row["secret_hash"] == crypto.token_hash(secret)
    assert row["kind"] == "service" and row["scopes"] == ["identity:read", "points:grant"]

    replay = await identity.CreateClient(request, metadata=mint(*ADMIN))
    assert replay.client == created.client
    assert replay.client_secret == ""  # shown once: a replay does not reveal it again
    assert await identity_app.pool.fetchval("SELECT count(*) FROM clients") == 1

    # The secret is nowhere in the database: not in clients, the idempotency record, the audit.
    for table in ("clients", "idempotency", "audit_log", "outbox"):
        rows = await identity_app.pool.fetch(f"SELECT * FROM {table}")
        dump = repr([dict(r) for r in rows])
        assert secret not in dump, table
        assert all(
            secret.encode() not in v for r in rows for v in r.values() if isinstance(v, bytes)
        )
    audit = await identity_app.pool.fetchrow("SELECT actor, action FROM audit_log")
    assert tuple(audit) == ("operator:ops-root", "client.create")


async def test_client_token_carries_the_clients_scopes(identity, mint):
    member = await register(identity, login=False)
    created = await identity.CreateClient(create_request(), metadata=mint(*ADMIN))
    issued = await identity.IssueClientToken(
        pb.IssueClientTokenRequest(client_id="storefront-main", client_secret=created.client_secret)
    )
    assert issued.token_type == "Bearer"
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert (claims["sub"], claims["kind"], claims["scope"]) == (
        "storefront-main",
        "service",
        "identity:read",
    )
    assert claims["exp"] == issued.expire_time.seconds

    listed = await identity.ListMembers(
        pb.ListMembersRequest(), metadata=bearer(issued.access_token)
    )
    assert [m.member_id for m in listed.members] == [member.member_id]
    got = await identity.GetMember(
        pb.GetMemberRequest(member_id=member.member_id), metadata=bearer(issued.access_token)
    )
    assert got.member.member_id == member.member_id
    # identity:read does not allow writes.
    await fails(
        identity.AddMemberTags(
            pb.AddMemberTagsRequest(request_id=uid(), member_id=member.member_id, tags=["vip"]),
            metadata=bearer(issued.access_token),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )


async def test_operator_client_with_admin_scope_can_freeze(identity, mint):
    member = await register(identity, login=False)
    created = await identity.CreateClient(
        create_request("ops-alice", ["identity:admin"], kind=res.CLIENT_KIND_OPERATOR),
        metadata=mint(*ADMIN),
    )
    token = (
        await identity.IssueClientToken(
            pb.IssueClientTokenRequest(client_id="ops-alice", client_secret=created.client_secret)
        )
    ).access_token
    assert jwt.decode(token, options={"verify_signature": False})["kind"] == "operator"
    frozen = await identity.FreezeMember(
        pb.FreezeMemberRequest(request_id=uid(), member_id=member.member_id, reason="risk"),
        metadata=bearer(token),
    )
    assert frozen.member.status == res.MEMBER_STATUS_FROZEN


async def test_wrong_or_missing_credentials_are_refused(identity, mint):
    created = await identity.CreateClient(create_request(), metadata=mint(*ADMIN))
    cases = [
        (
            "storefront-main",
            created.client_secret[:-1] + ("A" if created.client_secret[-1] != "A" else "B"),
        ),
        ("storefront-main", "x" * 43),
        ("no-such-client", created.client_secret),
    ]
    for client_id, secret in cases:
        await fails(
            identity.IssueClientToken(
                pb.IssueClientTokenRequest(client_id=client_id, client_secret=secret)
            ),
            grpc.StatusCode.UNAUTHENTICATED,
            "INVALID_CLIENT_CREDENTIALS",
        )
    for client_id, secret, field in [
        ("", created.client_secret, "client_id"),
        ("storefront-main", "", "client_secret"),
        ("c" * 1000, created.client_secret, "client_id"),
        ("storefront-main", "s" * 1000, "client_secret"),
    ]:
        await fails(
            identity.IssueClientToken(
                pb.IssueClientTokenRequest(client_id=client_id, client_secret=secret)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=[field],
        )


async def test_client_id_is_unique(identity, identity_app, mint):
    await identity.CreateClient(create_request(), metadata=mint(*ADMIN))
    before = await snapshot(identity_app.pool)
    await fails(
        identity.CreateClient(create_request(scopes=["identity:admin"]), metadata=mint(*ADMIN)),
        grpc.StatusCode.ALREADY_EXISTS,
        "CLIENT_ALREADY_EXISTS",
    )
    assert await snapshot(identity_app.pool) == before


async def test_request_id_reused_for_another_client_is_refused(identity, identity_app, mint):
    first = create_request()
    await identity.CreateClient(first, metadata=mint(*ADMIN))
    before = await snapshot(identity_app.pool)
    await fails(
        identity.CreateClient(
            create_request("other-client", request_id=first.request_id), metadata=mint(*ADMIN)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "REQUEST_ID_REUSED",
        ["request_id"],
    )
    assert await snapshot(identity_app.pool) == before


async def test_bad_client_definitions_are_invalid_argument(identity, identity_app, mint):
    before = await snapshot(identity_app.pool)
    cases = [
        (create_request("X"), ["client_id"]),
        (create_request("Upper-Case"), ["client_id"]),
        (create_request("c" * 64), ["client_id"]),
        (create_request("good-client\n"), ["client_id"]),
        (create_request(kind=res.CLIENT_KIND_UNSPECIFIED), ["kind"]),
        (create_request(scopes=["everything"]), ["scopes[0]"]),
        (create_request(scopes=["identity:read", "points:grant\n"]), ["scopes[1]"]),
        (create_request(roles=["r" * 1000]), ["roles[0]"]),
        (create_request(display_name="d" * 1000), ["display_name"]),
    ]
    for request, fields in cases:
        await fails(
            identity.CreateClient(request, metadata=mint(*ADMIN)),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=fields,
        )
    assert await snapshot(identity_app.pool) == before


@pytest.mark.parametrize(
    ("held", "asked", "not_held"),
    [
        (["identity:admin"], ["points:admin"], "points:admin"),
        (["identity:admin", "points:grant"], ["points:grant", "points:adjust"], "points:adjust"),
        (["identity:admin"], ["identity:read"], "identity:read"),  # admin is not ranked above
    ],
)
async def test_create_client_grants_only_scopes_the_caller_holds(
    identity, identity_app, mint, held, asked, not_held
):
    before = await snapshot(identity_app.pool)
    failure = await fails(
        identity.CreateClient(
            create_request("minted-client", scopes=asked), metadata=mint("ops-1", "operator", held)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_NOT_HELD",
    )
    assert not_held in failure.message
    assert await snapshot(identity_app.pool) == before
    # Holding them, the same caller may grant them.
    created = await identity.CreateClient(
        create_request("minted-client", scopes=asked),
        metadata=mint("ops-1", "operator", [*held, *asked]),
    )
    assert sorted(created.client.scopes) == sorted(set(asked))
