"""Identity's cryptography: encryption at rest, look-up hashes, passwords, signed tokens."""

from __future__ import annotations

import base64
import datetime as dt
import os

import grpc
import jwt
import pytest
from cryptography.exceptions import InvalidTag

from services.identity import crypto
from services.kit import auth, errors
from tests.support.grpc_errors import assert_error

DATA_KEY = base64.b64encode(b"d" * 32).decode()
LOOKUP_KEY = base64.b64encode(b"l" * 32).decode()
ISSUER, AUDIENCE = "loyalty-identity", "loyalty"


@pytest.fixture
def vault():
    return crypto.Vault(DATA_KEY, LOOKUP_KEY)


def test_vault_round_trip(vault):
    blob = vault.encrypt("张三丰", b"member-1")
    assert vault.decrypt(blob, b"member-1") == "张三丰"
    assert "张三丰".encode() not in blob


def test_same_plaintext_encrypts_differently_each_time(vault):
    assert vault.encrypt("11010519491231002X", b"m") != vault.encrypt("11010519491231002X", b"m")


def test_ciphertext_is_bound_to_its_context(vault):
    blob = vault.encrypt("11010519491231002X", b"member-1")
    with pytest.raises(InvalidTag):
        vault.decrypt(blob, b"member-2")


def test_tampered_ciphertext_fails(vault):
    blob = bytearray(vault.encrypt("11010519491231002X", b"m"))
    blob[-1] ^= 1
    with pytest.raises(InvalidTag):
        vault.decrypt(bytes(blob), b"m")


def test_other_data_key_cannot_decrypt(vault):
    other = crypto.Vault(base64.b64encode(b"o" * 32).decode(), LOOKUP_KEY)
    with pytest.raises(InvalidTag):
        other.decrypt(vault.encrypt("secret", b"m"), b"m")


def test_lookup_hash_is_deterministic_and_keyed(vault):
    number = "11010519491231002X"
    assert vault.lookup_hash(number) == vault.lookup_hash(number)
    assert vault.lookup_hash(number) != vault.lookup_hash("110101199003070011")
    other = crypto.Vault(DATA_KEY, base64.b64encode(b"k" * 32).decode())
    assert other.lookup_hash(number) != vault.lookup_hash(number)
    assert len(vault.lookup_hash(number)) == 32


@pytest.mark.parametrize(
    "key",
    ["", "not base64!", base64.b64encode(b"short").decode(), base64.b64encode(b"x" * 33).decode()],
)
def test_vault_refuses_keys_that_are_not_32_bytes_of_base64(key):
    with pytest.raises(ValueError):
        crypto.Vault(key, LOOKUP_KEY)
    with pytest.raises(ValueError):
        crypto.Vault(DATA_KEY, key)


async def test_passwords_hash_and_verify():
    passwords = crypto.Passwords(time_cost=1, memory_kib=1024, parallelism=1)
    stored = await passwords.hash("s3cret-pass")
    assert stored.startswith("$argon2id$")
    assert "s3cret-pass" not in stored
    assert await passwords.verify(stored, "s3cret-pass")
    assert not await passwords.verify(stored, "s3cret-pasS")
    assert not await passwords.verify(None, "s3cret-pass")  # no credential: never a match
    assert not await passwords.verify("garbage", "s3cret-pass")


def test_opaque_tokens_are_random_and_stored_as_hash():
    token, digest = crypto.opaque_token()
    other, _ = crypto.opaque_token()
    assert token != other
    assert len(token) >= 43
    assert digest == crypto.token_hash(token) != token.encode()


def test_secret_matches_only_its_own_hash():
    secret, digest = crypto.opaque_token()
    assert crypto.secret_matches(digest, secret)
    assert not crypto.secret_matches(digest, secret + "x")
    assert not crypto.secret_matches(digest, "")


def test_without_a_stored_hash_no_secret_matches():
    # Not even the empty secret, whose hash is the stand-in compared against.
    assert not crypto.secret_matches(None, "")
    assert not crypto.secret_matches(None, "anything")


# --- signed access tokens --------------------------------------------------------------------


def make_signer(count: int = 1) -> crypto.Signer:
    return crypto.Signer([crypto.new_signing_key() for _ in range(count)], ISSUER, AUDIENCE)


def verifier_for(signer: crypto.Signer) -> auth.Verifier:
    keys = auth.KeySet()
    keys.load(signer.jwks())
    return auth.Verifier(keys, ISSUER, AUDIENCE)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def expect_unauthenticated(verifier: auth.Verifier, token: str, reason: str) -> None:
    with pytest.raises(errors.AppError) as err:
        await verifier.verify(token)
    assert_error(err, grpc.StatusCode.UNAUTHENTICATED, reason)


def test_jwks_publishes_public_keys_only():
    signer = make_signer(2)
    keys = signer.jwks()["keys"]
    assert len(keys) == 2
    for key in keys:
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519"
        assert key["alg"] == "EdDSA" and key["use"] == "sig" and key["kid"]
        assert "d" not in key  # the private part


async def test_member_token_verifies_with_published_keys():
    signer = make_signer()
    token = signer.access_token(subject="member-1", kind="member", ttl=300, now=now())
    principal = await verifier_for(signer).verify(token)
    assert principal == auth.Principal(subject="member-1", kind="member")


async def test_client_token_carries_scopes_and_roles():
    signer = make_signer()
    token = signer.access_token(
        subject="ops-desk",
        kind="operator",
        ttl=300,
        now=now(),
        scopes=["identity:read", "points:grant"],
        roles=["store_manager"],
    )
    principal = await verifier_for(signer).verify(token)
    assert principal.kind == "operator"
    assert principal.scopes == {"identity:read", "points:grant"}
    assert principal.roles == {"store_manager"}
    assert principal.has_scope("points:grant") and not principal.has_scope("identity:admin")


async def test_tokens_of_every_live_key_verify():
    newest, older = crypto.new_signing_key(), crypto.new_signing_key()
    signer = crypto.Signer([newest, older], ISSUER, AUDIENCE)
    by_older_key = crypto.Signer([older], ISSUER, AUDIENCE).access_token(
        subject="m", kind="member", ttl=300, now=now()
    )
    assert jwt.get_unverified_header(by_older_key)["kid"] == older[0]
    assert (await verifier_for(signer).verify(by_older_key)).subject == "m"
    current = signer.access_token(subject="m", kind="member", ttl=300, now=now())
    assert jwt.get_unverified_header(current)["kid"] == newest[0]  # signs with the newest


async def test_expired_token_is_token_expired():
    signer = make_signer()
    token = signer.access_token(
        subject="m", kind="member", ttl=60, now=now() - dt.timedelta(minutes=5)
    )
    await expect_unauthenticated(verifier_for(signer), token, "TOKEN_EXPIRED")


async def test_token_of_another_key_is_invalid():
    token = make_signer().access_token(subject="m", kind="member", ttl=300, now=now())
    await expect_unauthenticated(verifier_for(make_signer()), token, "INVALID_TOKEN")


async def test_token_forged_under_a_known_key_id_is_invalid():
    signer = make_signer()
    kid = signer.jwks()["keys"][0]["kid"]
    _, forger_pem = crypto.new_signing_key()
    forged = crypto.Signer([(kid, forger_pem)], ISSUER, AUDIENCE).access_token(
        subject="m", kind="member", ttl=300, now=now()
    )
    await expect_unauthenticated(verifier_for(signer), forged, "INVALID_TOKEN")


async def test_token_for_another_audience_or_issuer_is_invalid():
    keys = [crypto.new_signing_key()]
    verifier = verifier_for(crypto.Signer(keys, ISSUER, AUDIENCE))
    for issuer, audience in ((ISSUER, "elsewhere"), ("someone-else", AUDIENCE)):
        token = crypto.Signer(keys, issuer, audience).access_token(
            subject="m", kind="member", ttl=300, now=now()
        )
        await expect_unauthenticated(verifier, token, "INVALID_TOKEN")


async def test_token_that_is_not_an_access_token_is_invalid():
    signer = make_signer()
    kid, key = signer._keys[0]  # noqa: SLF001
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "m",
        "typ": "refresh",
        "iat": now(),
        "exp": now() + dt.timedelta(minutes=5),
    }
    token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})
    await expect_unauthenticated(verifier_for(signer), token, "INVALID_TOKEN")


async def test_unsigned_token_is_invalid():
    signer = make_signer()
    kid = signer.jwks()["keys"][0]["kid"]
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "m",
        "typ": "access",
        "iat": now(),
        "exp": now() + dt.timedelta(minutes=5),
    }
    token = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    await expect_unauthenticated(verifier_for(signer), token, "INVALID_TOKEN")


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "", base64.b64encode(os.urandom(40)).decode()]
)
async def test_garbage_is_invalid(token):
    await expect_unauthenticated(verifier_for(make_signer()), token, "INVALID_TOKEN")
