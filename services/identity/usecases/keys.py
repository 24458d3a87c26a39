"""The keys access tokens are signed with, stored encrypted under the data key."""

from __future__ import annotations

from services.kit import db

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
    pems = [(k.kid, deps.vault.decrypt(k.private_enc, k.kid.encode())) for k in live]
    return crypto.Signer(pems, deps.settings.jwt_issuer, deps.settings.jwt_audience)


async def rotate(deps: IdentityDeps) -> str:
    """Adds a signing key and returns its id; tokens signed by older live keys stay valid until
    they expire."""
    key = _new_key(deps)
    async with db.transaction(deps.pool) as conn:
        await keys.add(conn, key)
    return key.kid
