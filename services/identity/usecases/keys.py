"""The keys access tokens are signed with, stored encrypted under the data key."""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag

from services.kit import db, errors

from .. import crypto
from ..deps import IdentityDeps
from ..store import keys
from ..store.keys import SigningKey


def _new_key(deps: IdentityDeps) -> SigningKey:
    kid, pem = crypto.new_signing_key()
    return SigningKey(kid, deps.vault.encrypt(pem, kid.encode()))


async def load_signer(deps: IdentityDeps) -> crypto.Signer:
    """A signer with every live key, signing with the newest; the first start creates one."""
    async with db.transaction(deps.pool) as conn:
        await keys.add_if_none(conn, _new_key(deps))
        live = await keys.live(conn)
    try:
        pems = [(k.kid, deps.vault.decrypt(k.private_enc, k.kid.encode())) for k in live]
    except InvalidTag as exc:
        raise errors.Misconfigured(
            f"IDENTITY_DATA_KEY does not open the signing keys in {_database(deps)}: it was made "
            "with another key. Give this service that key, or another database "
            "(IDENTITY_DATABASE_URL)."
        ) from exc
    return crypto.Signer(pems, deps.settings.jwt_issuer, deps.settings.jwt_audience)


def _database(deps: IdentityDeps) -> str:
    """The database's name and server, without credentials."""
    parts = urlsplit(deps.settings.dsn())
    return f"{parts.path.lstrip('/')} on {parts.hostname}:{parts.port or 5432}"


async def rotate(deps: IdentityDeps) -> str:
    """Adds a signing key and returns its id; tokens signed by older live keys stay valid until
    they expire."""
    key = _new_key(deps)
    async with db.transaction(deps.pool) as conn:
        await keys.add(conn, key)
    return key.kid
