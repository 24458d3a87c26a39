"""Ops HTTP of identity: JWKS for every other service, probes and metrics."""

from __future__ import annotations

import json

import aiohttp
import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import auth, errors
from tests.support.grpc_errors import assert_error

from .helpers import fails, register


def url(identity_app, path: str) -> str:
    return f"http://127.0.0.1:{identity_app.ops_port}{path}"


async def get(identity_app, path: str):
    async with aiohttp.ClientSession() as session, session.get(url(identity_app, path)) as response:
        return response.status, response.headers, await response.read()


def verifier_on(identity_app, path: str) -> auth.Verifier:
    s = identity_app.settings
    return auth.Verifier(auth.KeySet(url(identity_app, path)), s.jwt_issuer, s.jwt_audience)


async def test_jwks_publishes_the_signing_keys(identity_app):
    status, headers, body = await get(identity_app, "/.well-known/jwks.json")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    keys = json.loads(body)["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "OKP" and key["alg"] == "EdDSA" and key["kid"] and key["x"]
        assert "d" not in key  # never the private half


async def test_a_login_token_verifies_through_the_jwks_url(identity, identity_app):
    """How every other service verifies identity's tokens: a KeySet on the published URL."""
    member = await register(identity)
    verifier = verifier_on(identity_app, "/.well-known/jwks.json")
    principal = await verifier.verify(member.tokens.access_token)
    assert principal.subject == member.member_id
    assert principal.kind == "member"
    header, payload, _ = member.tokens.access_token.split(".")
    other = await register(identity)
    spliced = f"{header}.{payload}.{other.tokens.access_token.rsplit('.', 1)[1]}"
    with pytest.raises(errors.AppError) as err:
        await verifier.verify(spliced)
    assert_error(err, grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")


async def test_a_keyset_on_a_wrong_url_verifies_nothing(identity, identity_app):
    member = await register(identity)
    verifier = verifier_on(identity_app, "/no-such-jwks.json")
    with pytest.raises(errors.AppError) as err:
        await verifier.verify(member.tokens.access_token)
    assert_error(err, grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")


async def test_probes(identity_app):
    status, _, _ = await get(identity_app, "/livez")
    assert status == 200
    status, _, body = await get(identity_app, "/readyz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "checks": {"database": True, "broker": True}}


async def test_metrics_count_grpc_calls_by_method_and_code(identity, identity_app):
    await fails(
        identity.Login(pb.LoginRequest(identifier="13700000009", password="whatever-1")),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    status, _, body = await get(identity_app, "/metrics")
    text = body.decode()
    assert status == 200
    assert "grpc_server_handled_total" in text
    assert (
        'grpc_server_handled_total{grpc_code="UNAUTHENTICATED",'
        'grpc_method="/loyalty.identity.v1.IdentityService/Login"}'
    ) in text
    assert 'grpc_server_handling_seconds_bucket{grpc_method="/loyalty.identity.v1' in text
