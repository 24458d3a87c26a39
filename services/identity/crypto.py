"""Identity's cryptography: password hashes, personal-data encryption, keyed look-up hashes, JWTs."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.kit.auth import ALGORITHM


def _key(b64: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError as exc:
        raise ValueError(f"{name} is not base64") from exc
    if len(raw) != 32:
        raise ValueError(
            f"{name} must be 32 bytes (base64); generate one with `openssl rand -base64 32`"
        )
    return raw


class Vault:
    """AES-GCM for personal data at rest; HMAC-SHA256 for look-ups that must not reveal it."""

    def __init__(self, data_key_b64: str, lookup_key_b64: str) -> None:
        self._aead = AESGCM(_key(data_key_b64, "IDENTITY_DATA_KEY"))
        self._lookup = _key(lookup_key_b64, "IDENTITY_LOOKUP_KEY")

    def encrypt(self, plaintext: str, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context)

    def decrypt(self, blob: bytes, context: bytes) -> str:
        return self._aead.decrypt(blob[:12], blob[12:], context).decode()

    def lookup_hash(self, value: str) -> bytes:
        return hmac.new(self._lookup, value.encode(), hashlib.sha256).digest()


class Passwords:
    """argon2id, run off the event loop: a hash costs tens of milliseconds by design."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verifying against this keeps unknown identifiers as slow as known ones.
        self._dummy = self._hasher.hash(secrets.token_hex(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)


def opaque_token() -> tuple[str, bytes]:
    """A refresh token or client secret and the hash that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def secret_matches(stored_hash: bytes | None, secret: str) -> bool:
    """Whether `secret` hashes to `stored_hash`, compared in constant time; with nothing stored
    a stand-in is compared all the same, so an unknown id answers as slowly as a wrong secret."""
    expected = stored_hash if stored_hash is not None else token_hash("")
    return hmac.compare_digest(expected, token_hash(secret)) and stored_hash is not None


# The keys EdDSA (auth.ALGORITHM) signs with.
EdDSAKey = ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey


def _signing_key(pem: str) -> EdDSAKey:
    key = serialization.load_pem_private_key(pem.encode(), None)
    if not isinstance(key, EdDSAKey):
        raise ValueError(f"a signing key must be Ed25519 (or Ed448), not {type(key).__name__}")
    return key


def new_signing_key() -> tuple[str, str]:
    """A fresh Ed25519 key: (key id, PKCS#8 PEM). EdDSA verifies faster than ES256."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = base64.urlsafe_b64encode(hashlib.sha256(public).digest()[:12]).decode().rstrip("=")
    return kid, pem


class Signer:
    """Signs access tokens with the newest key; publishes every live key as a JWKS."""

    def __init__(self, keys: list[tuple[str, str]], issuer: str, audience: str) -> None:
        self._keys = [(kid, _signing_key(pem)) for kid, pem in keys]
        self.issuer = issuer
        self.audience = audience

    def jwks(self) -> dict:
        out = []
        for kid, key in self._keys:
            jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, use="sig", alg=ALGORITHM)
            out.append(jwk)
        return {"keys": out}

    def access_token(
        self,
        *,
        subject: str,
        kind: str,
        ttl: int,
        now: dt.datetime,
        scopes: list[str] | None = None,
        roles: list[str] | None = None,
    ) -> str:
        kid, key = self._keys[0]
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "kind": kind,
            "typ": "access",
            # To the microsecond (a NumericDate may have a fraction): a revocation voids the
            # tokens issued up to its instant, and only those (kit.revocations).
            "iat": now.timestamp(),
            "exp": now + dt.timedelta(seconds=ttl),
            "jti": secrets.token_hex(8),
        }
        if scopes:
            claims["scope"] = " ".join(scopes)
        if roles:
            claims["roles"] = roles
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
