"""Redemption codes: batches issued to partner channels, exported once, redeemed once, attempts
limited.

Secrets: a batch is created without codes. A page's codes are drawn when ExportCodeBatch
delivers it, and only their keyed hashes are stored, in the same transaction; the codes exist in
that response alone (a replay returns the page without them). A lost page is recovered by
voiding its codes (and every later page's) and delivering as many new ones.

Redemption: an unknown, used, expired, voided or disabled code is one failure, `CodeRejected`,
which the caller counts against the member and the calling client (the kit's rate limits, in
PostgreSQL, so every replica counts the same) once the transaction that judged it has ended.
Only failures count; while either limit is full even the right code is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.kit import errors, ids
from services.kit.ratelimit import Limit
from services.kit.refusals import Refusal

from ..deps import SubscriptionDeps
from ..domain import codes
from ..domain.lifecycle import MemberAction, MemberStatus, State, member_refusal
from ..domain.terms import Channel
from ..store import codes as store
from ..store import members
from ..store import plans as plan_store
from ..store.codes import BatchRow, Recovery
from . import free_terms, records
from .records import Held

# Failed attempts allowed in any 15 minutes (the proto's numbers).
PER_MEMBER = Limit("subscription.code_failures.member", 5, 15 * 60)
PER_CLIENT = Limit("subscription.code_failures.client", 100, 15 * 60)
_THROTTLED = "too many invalid codes; try again later"


class BatchState(StrEnum):
    """The values are the code_batches.state column's."""

    CREATED = "created"
    EXPORTING = "exporting"
    EXPORTED = "exported"
    DISABLED = "disabled"


class CodeRejected(Exception):
    """The code cannot be redeemed (unknown, used, expired, voided, disabled): one answer for
    all, counted as a failed attempt once the judging transaction has ended (`rejected`)."""


@dataclass(frozen=True)
class BatchView:
    """A batch as GetCodeBatch shows it."""

    batch: BatchRow
    redeemed: int
    recoveries: list[Recovery]


@dataclass(frozen=True)
class ExportPage:
    view: BatchView
    page: int
    rows: list[tuple[int, str]]  # (sequence, code), in sequence order
    remaining: int


@dataclass(frozen=True)
class Recovered:
    view: BatchView
    voided: int


@dataclass(frozen=True)
class Redeemed:
    held: Held
    term_sequence: int  # the term the code gave


def _state_refusal(reason: str, message: str, batch: BatchRow) -> Refusal:
    return Refusal(reason, message, {"state": batch.state.upper()})


def _refuse_disabled(batch: BatchRow) -> None:
    if batch.state == BatchState.DISABLED:
        raise errors.refused(_state_refusal("CODE_BATCH_DISABLED", "the batch is disabled", batch))


class Codes:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps

    # --- batches ----------------------------------------------------------------------------
    async def create(
        self,
        conn,
        *,
        channel: str,
        plan_id: str,
        code_count: int,
        redeem_by: dt.datetime,
        note: str,
        created_by: str,
    ) -> BatchView:
        """A batch of the plan's version on sale now, CREATED: no code exists yet."""
        plan = await plan_store.get(conn, plan_id)
        if plan is None:
            raise errors.not_found("plan", plan_id)
        if plan.rules.is_trial:
            raise errors.failed_precondition("PLAN_IS_TRIAL", "a code gives a paid plan")
        if not plan.on_sale:
            raise errors.failed_precondition("PLAN_NOT_ON_SALE", f"plan {plan_id} is not sold")
        now = self.deps.now()
        batch = await store.insert_batch(
            conn,
            BatchRow(
                code_batch_id=ids.new_id(),
                channel=channel,
                plan_id=plan.plan_id,
                plan_version=plan.version,
                code_count=code_count,
                redeem_by=redeem_by,
                state=BatchState.CREATED,
                export_pages=0,
                exported_count=0,
                voided_count=0,
                note=note,
                created_by=created_by,
                create_time=now,
                disabled_by="",
                disable_reason="",
                disable_time=None,
                update_time=now,
            ),
        )
        return BatchView(batch, 0, [])

    async def export(self, conn, code_batch_id: uuid.UUID, page_size: int) -> ExportPage:
        """The next page of codes, drawn now and delivered once ever: EXPORTING, then EXPORTED
        when nothing remains."""
        batch = await self._locked(conn, code_batch_id)
        _refuse_disabled(batch)
        if batch.remaining == 0:
            raise errors.refused(
                _state_refusal("CODES_ALREADY_EXPORTED", "every code was delivered", batch)
            )
        page = batch.export_pages + 1
        first = batch.exported_count + 1
        key = self.deps.keyring.current
        delivered: dict[int, str] = {}
        wanted = list(range(first, first + min(page_size, batch.remaining)))
        while wanted:  # again only for a draw equal to a code drawn before (2^-75 a pair)
            drawn = await asyncio.to_thread(_draw, len(wanted), key)
            stored = await store.add_codes(
                conn,
                code_batch_id,
                page,
                key.key_id,
                {s: digest for s, (_, digest) in zip(wanted, drawn, strict=True)},
            )
            delivered |= {
                s: code for s, (code, _) in zip(wanted, drawn, strict=True) if s in stored
            }
            wanted = [s for s in wanted if s not in stored]
        exported = batch.exported_count + len(delivered)
        remaining = batch.code_count - (exported - batch.voided_count)
        batch = await store.update_batch(
            conn,
            code_batch_id,
            self.deps.now(),
            state=BatchState.EXPORTING if remaining else BatchState.EXPORTED,
            export_pages=page,
            exported_count=exported,
        )
        rows = sorted(delivered.items())
        return ExportPage(await self.view(conn, batch), page, rows, remaining)

    async def recover(
        self, conn, code_batch_id: uuid.UUID, from_page: int, *, actor: str, reason: str
    ) -> Recovered:
        """An interrupted export: the unredeemed codes of `from_page` and later pages voided,
        as many new ones for the next exports to deliver."""
        batch = await self._locked(conn, code_batch_id)
        _refuse_disabled(batch)
        if batch.export_pages == 0:
            raise errors.refused(
                _state_refusal("NOTHING_EXPORTED", "no code was delivered yet", batch)
            )
        if from_page > batch.export_pages:
            raise errors.invalid([("from_page", f"pages 1 to {batch.export_pages} were delivered")])
        now = self.deps.now()
        voided = await store.void_from_page(conn, code_batch_id, from_page, now)
        if voided:
            batch = await store.update_batch(
                conn,
                code_batch_id,
                now,
                state=BatchState.EXPORTING,
                voided_count=batch.voided_count + voided,
            )
        await store.add_recovery(
            conn, code_batch_id, Recovery(from_page, voided, actor, reason, now)
        )
        return Recovered(await self.view(conn, batch), voided)

    async def disable(
        self, conn, code_batch_id: uuid.UUID, *, actor: str, reason: str
    ) -> BatchView:
        """DISABLED, final: its unredeemed codes are refused from now on (redemptions in
        flight hold the batch, so each ends before or after, never across)."""
        batch = await self._locked(conn, code_batch_id)
        _refuse_disabled(batch)
        now = self.deps.now()
        batch = await store.update_batch(
            conn,
            code_batch_id,
            now,
            state=BatchState.DISABLED,
            disabled_by=actor,
            disable_reason=reason,
            disable_time=now,
        )
        return await self.view(conn, batch)

    async def get(self, code_batch_id: uuid.UUID) -> BatchView:
        async with self.deps.pool.acquire() as conn:
            batch = await store.get_batch(conn, code_batch_id)
            if batch is None:
                raise errors.not_found("code_batch", str(code_batch_id))
            return await self.view(conn, batch)

    async def listed(
        self,
        *,
        before: uuid.UUID | None,
        limit: int,
        channel: str | None,
        plan_id: str | None,
        state: BatchState | None,
    ) -> list[BatchView]:
        async with self.deps.pool.acquire() as conn:
            rows = await store.listed(
                conn, before=before, limit=limit, channel=channel, plan_id=plan_id, state=state
            )
            return await self.views(conn, rows)

    async def view(self, conn, batch: BatchRow) -> BatchView:
        (found,) = await self.views(conn, [batch])
        return found

    async def views(self, conn, batches: list[BatchRow]) -> list[BatchView]:
        """Batches with their counts and recoveries, in two queries whatever their number."""
        if not batches:
            return []
        batch_ids = [b.code_batch_id for b in batches]
        redeemed = await store.redeemed_counts(conn, batch_ids)
        recoveries = await store.recoveries_of(conn, batch_ids)
        return [
            BatchView(b, redeemed.get(b.code_batch_id, 0), recoveries.get(b.code_batch_id, []))
            for b in batches
        ]

    async def _locked(self, conn, code_batch_id: uuid.UUID) -> BatchRow:
        batch = await store.get_batch(conn, code_batch_id, lock=True)
        if batch is None:
            raise errors.not_found("code_batch", str(code_batch_id))
        return batch

    # --- redemption -------------------------------------------------------------------------
    async def admit(self, member_id: uuid.UUID, caller: str) -> None:
        """RESOURCE_EXHAUSTED RATE_LIMITED while the member or the caller has used up its
        failures, whatever the code (nothing is counted here)."""
        await self.deps.limiter.check(PER_MEMBER, str(member_id), _THROTTLED)
        await self.deps.limiter.check(PER_CLIENT, caller, _THROTTLED)

    async def rejected(self, member_id: uuid.UUID, caller: str) -> errors.AppError:
        """Count a failed attempt (in a transaction of its own: the judging one rolled back)
        and give the one answer for every code that cannot be redeemed."""
        await self.deps.limiter.take(
            (PER_MEMBER, str(member_id)), (PER_CLIENT, caller), message=_THROTTLED
        )
        return errors.permission_denied(codes.CODE_INVALID.reason, codes.CODE_INVALID.message)

    async def redeem(self, conn, member_id: uuid.UUID, code: str) -> Redeemed:
        """A period of the code's plan version for `member_id`, started or stacked; the code
        used once, ever. Raises CodeRejected for a code that cannot be redeemed."""
        await self._may_redeem(conn, member_id)
        keyring = self.deps.keyring
        hashes = codes.lookup_hashes(keyring, code)
        found = await store.find(conn, [(h.key_id, h.digest) for h in hashes])
        stored = codes.CodeHash(found.key_id, found.digest) if found else None
        # Compared in constant time, and hashed all the same when nothing was found.
        if not codes.verify(keyring, code, stored):
            found = None
        record = None
        if found is not None:
            record = codes.CodeRecord(
                batch_id=str(found.code_batch_id),
                expires_at=found.redeem_by,
                redeemed_at=found.redeemed_at,
                withdrawn=found.voided or found.batch_state == BatchState.DISABLED,
            )
        now = self.deps.now()
        if codes.redeem_refusal(record, now) is not None:
            raise CodeRejected
        assert found is not None and stored is not None
        if not await store.claim(conn, found.code_batch_id, found.sequence, member_id, now):
            raise CodeRejected  # another member's redemption of it came first
        plan = await plan_store.get(conn, found.plan_id, found.plan_version)
        assert plan is not None
        # Refusals from here (stacking limit, currency) roll the claim back with the rest.
        held = await free_terms.start(
            self.deps, conn, member_id, plan, Channel.CODE, code_batch_id=str(found.code_batch_id)
        )
        rehashed = None
        if codes.needs_rehash(stored, keyring):
            fresh = codes.hash_code(code, keyring.current)
            rehashed = (fresh.key_id, fresh.digest)
        term_sequence = held.row.terms[-1].sequence
        await store.link(
            conn, found.code_batch_id, found.sequence, held.subscription_id, term_sequence, rehashed
        )
        return Redeemed(held, term_sequence)

    async def term_batches(
        self, conn, subscription_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[int, uuid.UUID]]:
        """{subscription: {term sequence: code batch}} of the terms codes gave."""
        return await store.term_batches(conn, subscription_ids)

    async def _may_redeem(self, conn, member_id: uuid.UUID) -> None:
        """The member's own state, checked before the code is read (not an attempt)."""
        status = MemberStatus(await members.status(conn, member_id))
        problem = member_refusal(status, MemberAction.REDEEM)
        if problem:
            raise errors.refused(problem)
        current = await records.live(conn, member_id)
        if current is not None and current.sub.state is State.PENDING_PAYMENT:
            error = errors.failed_precondition(
                "SUBSCRIPTION_PENDING_PAYMENT", "the open order must be paid or abandoned first"
            )
            error.metadata["order_id"] = str(current.row.order_id or "")
            raise error


def _draw(count: int, key: codes.CodeKey) -> list[tuple[str, bytes]]:
    """`count` new codes and their keyed hashes."""
    drawn = []
    for _ in range(count):
        code = codes.new_code()
        drawn.append((code, codes.hash_code(code, key).digest))
    return drawn
