"""Clients after creation: listed, disabled, their secret rotated; the create-client command;
IssueClientToken's rate limits."""

from __future__ import annotations

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from services.identity import crypto
from tests.support import cli
from tests.support.ids import uid

from .helpers import fails, snapshot

SCOPES = ["identity:admin", "identity:read", "points:grant"]
ADMIN = ("ops-root", "operator", SCOPES)


async def create(stub, mint, client_id: str, scopes=("identity:read",)) -> str:
    created = await stub.CreateClient(
        pb.CreateClientRequest(
            request_id=uid(), client_id=client_id, kind=res.CLIENT_KIND_SERVICE, scopes=scopes
        ),
        metadata=mint(*ADMIN),
    )
    return created.client_secret


def token_request(client_id: str, secret: str) -> pb.IssueClientTokenRequest:
    return pb.IssueClientTokenRequest(client_id=client_id, client_secret=secret)


async def refused_credentials(stub, client_id: str, secret: str) -> None:
    await fails(
        stub.IssueClientToken(token_request(client_id, secret)),
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_CLIENT_CREDENTIALS",
    )


async def test_list_clients_pages_by_client_id_disabled_ones_too(identity, mint):
    for client_id in ("svc-c", "svc-a", "svc-e", "svc-b", "svc-d"):
        await create(identity, mint, client_id)
    await identity.DisableClient(
        pb.DisableClientRequest(request_id=uid(), client_id="svc-b"), metadata=mint(*ADMIN)
    )
    seen, token = [], ""
    for _ in range(10):
        page = await identity.ListClients(
            pb.ListClientsRequest(page_size=2, page_token=token), metadata=mint(*ADMIN)
        )
        assert len(page.clients) <= 2
        seen.extend(page.clients)
        token = page.next_page_token
        if not token:
            break
    assert [c.client_id for c in seen] == ["svc-a", "svc-b", "svc-c", "svc-d", "svc-e"]
    assert [c.disabled for c in seen] == [False, True, False, False, False]
    assert seen[1].HasField("disable_time") and not seen[0].HasField("disable_time")
    assert all(c.HasField("create_time") for c in seen)
    everything = await identity.ListClients(pb.ListClientsRequest(), metadata=mint(*ADMIN))
    assert len(everything.clients) == 5 and not everything.next_page_token
    for page_token, page_size in (("not-a-token", 0), ("", -1)):
        await fails(
            identity.ListClients(
                pb.ListClientsRequest(page_token=page_token, page_size=page_size),
                metadata=mint(*ADMIN),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )


async def test_a_disabled_client_gets_no_token(identity, identity_app, mint):
    secret = await create(identity, mint, "storefront-main")
    await identity.IssueClientToken(token_request("storefront-main", secret))
    request = pb.DisableClientRequest(request_id=uid(), client_id="storefront-main", reason="gone")
    disabled = await identity.DisableClient(request, metadata=mint(*ADMIN))
    assert disabled.client.disabled and disabled.client.HasField("disable_time")
    await refused_credentials(identity, "storefront-main", secret)
    # A replay answers the same; disabling again changes nothing.
    assert await identity.DisableClient(request, metadata=mint(*ADMIN)) == disabled
    before = await snapshot(identity_app.pool)
    again = await identity.DisableClient(
        pb.DisableClientRequest(request_id=uid(), client_id="storefront-main"),
        metadata=mint(*ADMIN),
    )
    assert again.client.disable_time == disabled.client.disable_time
    after = await snapshot(identity_app.pool)
    assert after["clients"] == before["clients"] and after["audit_log"] == before["audit_log"]
    actions = await identity_app.pool.fetch(
        "SELECT actor, action, detail FROM audit_log WHERE subject = 'storefront-main' ORDER BY id"
    )
    assert [(a["actor"], a["action"]) for a in actions] == [
        ("operator:ops-root", "client.create"),
        ("operator:ops-root", "client.disable"),
    ]
    assert actions[1]["detail"] == {"reason": "gone"}


async def test_rotating_the_secret_shows_the_new_one_once_and_ends_the_old(
    identity, identity_app, mint
):
    old = await create(identity, mint, "storefront-main")
    request = pb.RotateClientSecretRequest(request_id=uid(), client_id="storefront-main")
    rotated = await identity.RotateClientSecret(request, metadata=mint(*ADMIN))
    new = rotated.client_secret
    assert len(new) >= 43 and new != old
    assert rotated.client.client_id == "storefront-main"
    await refused_credentials(identity, "storefront-main", old)
    issued = await identity.IssueClientToken(token_request("storefront-main", new))
    assert issued.access_token
    replay = await identity.RotateClientSecret(request, metadata=mint(*ADMIN))
    assert replay.client == rotated.client and replay.client_secret == ""
    row = await identity_app.pool.fetchrow(
        "SELECT secret_hash, secret_rotated_at FROM clients WHERE client_id = 'storefront-main'"
    )
    assert row["secret_hash"] == crypto.token_hash(new) and row["secret_rotated_at"]
    for table in ("clients", "idempotency", "audit_log"):
        rows = await identity_app.pool.fetch(f"SELECT * FROM {table}")
        assert new not in repr([dict(r) for r in rows]), table
        assert all(new.encode() not in v for r in rows for v in r.values() if isinstance(v, bytes))
    assert (
        await identity_app.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'client.rotate_secret'"
        )
        == 1
    )


async def test_a_disabled_client_keeps_its_secret(identity, identity_app, mint):
    await create(identity, mint, "storefront-main")
    await identity.DisableClient(
        pb.DisableClientRequest(request_id=uid(), client_id="storefront-main"),
        metadata=mint(*ADMIN),
    )
    before = await snapshot(identity_app.pool)
    await fails(
        identity.RotateClientSecret(
            pb.RotateClientSecretRequest(request_id=uid(), client_id="storefront-main"),
            metadata=mint(*ADMIN),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CLIENT_DISABLED",
    )
    assert await snapshot(identity_app.pool) == before


@pytest.mark.parametrize("rpc", ["DisableClient", "RotateClientSecret"])
async def test_an_admin_manages_only_clients_whose_scopes_it_holds(
    identity, identity_app, mint, rpc
):
    """Else an administrator holding identity:admin alone could rotate the secret of a client
    holding points:admin and act as it."""
    secret = await create(identity, mint, "points-admin", scopes=["points:grant"])
    request_class = getattr(pb, f"{rpc}Request")
    lesser = mint("ops-2", "operator", ["identity:admin", "identity:read"])
    before = await snapshot(identity_app.pool)
    failure = await fails(
        getattr(identity, rpc)(
            request_class(request_id=uid(), client_id="points-admin"), metadata=lesser
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_NOT_HELD",
    )
    assert "points:grant" in failure.message
    assert await snapshot(identity_app.pool) == before
    assert (await identity.IssueClientToken(token_request("points-admin", secret))).access_token


@pytest.mark.parametrize("rpc", ["DisableClient", "RotateClientSecret"])
async def test_unknown_or_malformed_client_ids(identity, identity_app, mint, rpc):
    request_class = getattr(pb, f"{rpc}Request")
    call = getattr(identity, rpc)
    before = await snapshot(identity_app.pool)
    await fails(
        call(request_class(request_id=uid(), client_id="no-such-client"), metadata=mint(*ADMIN)),
        grpc.StatusCode.NOT_FOUND,
        "CLIENT_NOT_FOUND",
    )
    for client_id in ("", "X", "c" * 1000, "bad\nid"):
        await fails(
            call(request_class(request_id=uid(), client_id=client_id), metadata=mint(*ADMIN)),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=["client_id"],
        )
    await fails(
        call(request_class(client_id="no-such-client"), metadata=mint(*ADMIN)),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["request_id"],
    )
    assert await snapshot(identity_app.pool) == before


async def test_wrong_secrets_per_client_are_limited_but_the_right_one_always_works(
    identity, identity_app, mint
):
    limit = identity_app.settings.client_token_failures_per_client_hour
    secret = await create(identity, mint, "storefront-main")
    answers = {}
    for client_id in ("storefront-main", "unknown-client"):
        seen = []
        for _ in range(limit + 2):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await identity.IssueClientToken(token_request(client_id, "w" * 43))
            seen.append(err.value.code())
        answers[client_id] = seen
    # A known and an unknown client id answer alike: `limit` refusals, then RATE_LIMITED.
    expected = [grpc.StatusCode.UNAUTHENTICATED] * limit + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    assert answers == {"storefront-main": expected, "unknown-client": expected}
    # A secret is 256 random bits: guessing cannot find it, and must not keep the client out.
    assert (await identity.IssueClientToken(token_request("storefront-main", secret))).access_token


async def test_token_requests_per_caller_are_limited(identity, identity_app, mint):
    limit = identity_app.settings.client_token_attempts_per_source_minute
    secret = await create(identity, mint, "storefront-main")
    for _ in range(limit):
        await identity.IssueClientToken(token_request("storefront-main", secret))
    failure = await fails(
        identity.IssueClientToken(token_request("storefront-main", secret)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )
    assert failure.retry_seconds is not None and 0 < failure.retry_seconds <= 60
    identity_app.deps.clock.advance(seconds=61)
    assert (await identity.IssueClientToken(token_request("storefront-main", secret))).access_token


async def test_create_client_command(identity, identity_app):
    code, out, err = await cli.run(identity_app, "create-client", "admin", "operator", *SCOPES)
    assert code == 0, err
    secret = out.strip()
    assert len(out.splitlines()) == 1 and len(secret) >= 43
    assert (await identity.IssueClientToken(token_request("admin", secret))).access_token
    # A duplicate id and bad definitions: one line on stderr, exit code 1, nothing created.
    for args, says in [
        (("admin", "operator", "identity:admin"), "client id is taken: admin"),
        (("Admin", "operator", "identity:admin"), "client id"),
        (("other", "robot", "identity:admin"), "kind"),
        (("other", "service", "everything"), "scope 'everything'"),
        (("other", "service"), "usage"),
    ]:
        code, out, err = await cli.run(identity_app, "create-client", *args)
        assert (code, out) == (1, ""), err
        assert len(err.strip().splitlines()) == 1 and says in err, err
    assert await identity_app.pool.fetchval("SELECT count(*) FROM clients") == 1

    code, out, err = await cli.run(identity_app, "create-client", "--help")
    assert code == 0, err
    assert "create-client" in out and "CLIENT_ID operator|service SCOPE..." in out
