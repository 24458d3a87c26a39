"""Partner perk pools: the codes operators upload (kept encrypted, each once per pool), the
inventory, and the warning operators get when it runs low (`perk.inventory_low`, and the gauge
`subscription_perk_codes_available`).

Partner codes are handed to members in clear, so they are encrypted, not hashed: AES-GCM bound
to the pool, under a key derived from the service's code key (HKDF, its own label: the same
secret never serves two purposes), with an HMAC of the pool and the code beside it so that an
upload finds a code the pool holds already. The key id is stored with each code; retired code
keys still open and find what was stored under them."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from prometheus_client import Gauge

from loyalty.subscription.v1 import events_pb2 as ev
from services.kit import db, errors, ids
from services.kit.timestamps import to_proto

from ..deps import SubscriptionDeps
from ..domain import benefits as rules
from ..domain.codes import CodeKey, CodeKeyring
from ..store import perks as store
from ..store.perks import PoolRow, SealedCode, TakenCode

CODES_AVAILABLE = Gauge(
    "subscription_perk_codes_available",
    "Partner codes left to hand out, by pool (at the pool's last change or read)",
    ["perk_pool_id"],
)

_ENCRYPTION = b"loyalty.subscription.perk-code.encryption.v1"
_LOOKUP = b"loyalty.subscription.perk-code.lookup.v1"
_NONCE = 12


@functools.lru_cache(maxsize=32)
def _subkey(key: CodeKey, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key.secret)


def _digest(key: CodeKey, pool_id: uuid.UUID, code: str) -> bytes:
    return hmac.new(_subkey(key, _LOOKUP), pool_id.bytes + code.encode(), hashlib.sha256).digest()


def seal(keyring: CodeKeyring, pool_id: uuid.UUID, code: str) -> SealedCode:
    key = keyring.current
    nonce = os.urandom(_NONCE)
    sealed = nonce + AESGCM(_subkey(key, _ENCRYPTION)).encrypt(nonce, code.encode(), pool_id.bytes)
    return SealedCode(key.key_id, _digest(key, pool_id, code), sealed)


def unseal(keyring: CodeKeyring, pool_id: uuid.UUID, key_id: str, sealed: bytes) -> str:
    aead = AESGCM(_subkey(keyring.key(key_id), _ENCRYPTION))
    return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], pool_id.bytes).decode()


@dataclass(frozen=True)
class Upload:
    pool: PoolRow
    added: int
    duplicates: int


def pool_not_found(pool_id: object) -> errors.AppError:
    return errors.not_found("perk_pool", str(pool_id))


class Perks:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps

    # --- operators ----------------------------------------------------------------------------
    async def create(
        self, conn, display_name: str, partner: str, threshold: int, created_by: str
    ) -> PoolRow:
        now = self.deps.now()
        row = PoolRow(
            perk_pool_id=ids.new_id(),
            display_name=display_name,
            partner=partner,
            low_stock_threshold=threshold,
            uploaded_count=0,
            claimed_count=0,
            expired_count=0,
            level=rules.InventoryLevel.EMPTY.value,
            created_by=created_by,
            create_time=now,
            update_time=now,
        )
        await store.insert_pool(conn, row)
        CODES_AVAILABLE.labels(str(row.perk_pool_id)).set(0)
        return row

    async def update(
        self, conn, pool_id: uuid.UUID, display_name: str | None, threshold: int | None
    ) -> PoolRow:
        if not await store.lock(conn, pool_id):
            raise pool_not_found(pool_id)
        await store.rename(conn, pool_id, display_name, threshold, self.deps.now())
        return await self._settle(conn, pool_id)

    async def upload(
        self, conn, pool_id: uuid.UUID, codes: Sequence[str], expire_time: dt.datetime | None
    ) -> Upload:
        """Add the codes the pool does not hold (each once); the rest are duplicates."""
        now = self.deps.now()
        if await store.get(conn, pool_id, now) is None:
            raise pool_not_found(pool_id)
        keyring = self.deps.keyring
        fresh = list(dict.fromkeys(codes))
        if keyring.retired:  # codes stored under a retired key have digests of their own
            older = {c: [_digest(k, pool_id, c) for k in keyring.retired] for c in fresh}
            known = await store.known_digests(
                conn, pool_id, [d for ds in older.values() for d in ds]
            )
            fresh = [c for c in fresh if not known.intersection(older[c])]
        sealed = [seal(keyring, pool_id, c) for c in fresh]
        added = await store.add_codes(conn, pool_id, sealed, expire_time, now)
        await store.lock(conn, pool_id)  # codes, then the pool: the order claims lock them in
        await store.count_upload(conn, pool_id, added, now)
        return Upload(await self._settle(conn, pool_id), added, len(codes) - added)

    async def inventory(self, conn, pool_id: uuid.UUID) -> PoolRow:
        pool = await store.get(conn, pool_id, self.deps.now())
        if pool is None:
            raise pool_not_found(pool_id)
        CODES_AVAILABLE.labels(str(pool_id)).set(pool.available)
        return pool

    async def listing(
        self, conn, *, after: tuple[str, uuid.UUID] | None, limit: int, low_stock_only: bool
    ) -> list[PoolRow]:
        pools = await store.listing(
            conn, self.deps.now(), after=after, limit=limit, low_stock_only=low_stock_only
        )
        for pool in pools:
            CODES_AVAILABLE.labels(str(pool.perk_pool_id)).set(pool.available)
        return pools

    async def missing(self, conn, pool_ids: Sequence[str]) -> set[str]:
        """Which of `pool_ids` (a plan's benefits name them) name no pool."""
        parsed = {}
        for raw in pool_ids:
            try:
                parsed[raw] = uuid.UUID(raw)
            except ValueError:
                continue
        found = await store.existing(conn, list(parsed.values()))
        return {raw for raw in pool_ids if parsed.get(raw) not in found}

    # --- claims and the lapse job -------------------------------------------------------------
    async def stock(self, conn, pool_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Codes left in each pool named (a pool that does not exist has none)."""
        pools = await store.many(conn, pool_ids, self.deps.now())
        return {i: pools[i].available if i in pools else 0 for i in pool_ids}

    async def take(self, conn, pool_id: uuid.UUID, claim_id: uuid.UUID) -> TakenCode | None:
        return await store.take(conn, pool_id, claim_id, self.deps.now())

    async def count_claim(self, conn, writes: db.Batch, pool_id: uuid.UUID) -> PoolRow:
        """Count a code taken by a claim; the warning it calls for, if any, goes with the
        claim's final `writes`. The pool stays locked until the claim commits, so a claim
        calls this as its last statement."""
        pool = await store.count_claim(conn, pool_id, self.deps.now())
        assert pool is not None  # its code was just taken, and pools are never deleted
        await self._warn(writes, pool)
        return pool

    async def code_of(self, conn, claim_id: uuid.UUID) -> TakenCode | None:
        return await store.code_of(conn, claim_id)

    def reveal(self, pool_id: uuid.UUID, code: TakenCode) -> str:
        return unseal(self.deps.keyring, pool_id, code.key_id, code.sealed)

    async def lapse(self, pool: asyncpg.Pool) -> int:
        """The lapse job (to run every few minutes): codes past their expire_time are counted
        as expired (none was handed out from then on) and their pools' warnings checked, a
        pool at a time; every pool's gauge is set. Returns the codes counted."""
        now, total = self.deps.now(), 0
        async with pool.acquire() as conn:
            lapsing = await store.pools_with_lapsed(conn, now)
        for pool_id in lapsing:
            async with pool.acquire() as conn, conn.transaction():
                lapsed = await store.lapse(conn, pool_id, now)
                if lapsed:  # counted on the pool's row, which is now ours
                    total += lapsed
                    await self._settle(conn, pool_id)
        async with pool.acquire() as conn:
            for each in await store.listing(
                conn, now, after=None, limit=10**6, low_stock_only=False
            ):
                CODES_AVAILABLE.labels(str(each.perk_pool_id)).set(each.available)
        return total

    async def _settle(self, conn, pool_id: uuid.UUID) -> PoolRow:
        """After a change of the pool, its row held by this transaction: read it as it now is
        and warn if need be."""
        pool = await store.get(conn, pool_id, self.deps.now())
        assert pool is not None  # held, and pools are never deleted
        await self._warn(conn, pool)
        return pool

    async def _warn(self, conn: asyncpg.Connection | db.Batch, pool: PoolRow) -> None:
        """`pool` as a change left it, read under its lock: warn operators when its level got
        worse than the one remembered (once per crossing), remember the level, set the
        gauge."""
        level = rules.inventory_level(pool.available, pool.low_stock_threshold)
        warning = rules.level_warning(
            rules.InventoryLevel(pool.level), pool.available, pool.low_stock_threshold
        )
        if warning is not None:
            await self.deps.outbox.add(
                conn,
                pool.perk_pool_id,
                ev.PerkInventoryLow(
                    perk_pool_id=str(pool.perk_pool_id),
                    display_name=pool.display_name,
                    partner=pool.partner,
                    available_count=pool.available,
                    low_stock_threshold=pool.low_stock_threshold,
                    reported_time=to_proto(self.deps.now()),
                ),
            )
        if level.value != pool.level:
            await store.set_level(conn, pool.perk_pool_id, level.value)
        CODES_AVAILABLE.labels(str(pool.perk_pool_id)).set(pool.available)
