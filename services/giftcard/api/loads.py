"""LoadCards, GetLoad, ListLoads, ListLoadEntries, ApproveLoad, RejectLoad."""

from __future__ import annotations

import uuid

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors, idempotency, paging
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain import cards as numbers
from ..domain.amounts import amount_problem
from ..domain.stock import MAX_LOAD_ENTRIES, LoadState
from ..store.loads import LoadRow
from . import access
from .base import Part
from .batches import MAX_NOTE, Checks


def load_proto(load: LoadRow) -> res.Load:
    return res.Load(
        load_id=str(load.load_id),
        batch_id=str(load.batch_id),
        state=res.LoadState.Value(f"LOAD_STATE_{load.state.name}"),
        card_count=load.card_count,
        currency_code=load.currency_code,
        total_minor=load.total_minor,
        loaded_by=load.loaded_by,
        load_time=to_proto(load.load_time),
        reviewed_by=load.reviewed_by,
        review_time=to_proto(load.review_time),
        reject_reason=load.reject_reason,
        note=load.note,
    )


def _load_state_of(v: Violations, value: int) -> LoadState | None:
    try:
        name = res.LoadState.Name(value)  # type: ignore[arg-type]
    except ValueError:
        v.add("state", "not a load state")
        return None
    name = name.removeprefix("LOAD_STATE_")
    return None if name == "UNSPECIFIED" else LoadState[name]


def _load_id(v: Violations, value: str) -> uuid.UUID:
    return v.uuid("load_id", value, "a load id")


class LoadsApi(Part):
    async def LoadCards(
        self, request: pb.LoadCardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoadCardsResponse:
        principal = access.require_any(access.LOADER)
        errors.at_most("entries", request.entries, MAX_LOAD_ENTRIES, minimum=1)
        v = Checks()
        batch_id = v.uuid("batch_id", request.batch_id, "a batch id")
        entries: list[tuple[str, int]] = []
        for i, entry in enumerate(request.entries):
            number = numbers.parse(entry.card_number, f"entries[{i}].card_number")
            if isinstance(number, str):
                entries.append((number, entry.amount_minor))
            else:
                v.problem(number)
            v.problem(amount_problem(entry.amount_minor, f"entries[{i}].amount_minor"))
        v.text("note", request.note, maximum=MAX_NOTE, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.LoadCardsResponse:
            load = await self.uc.loads.load(
                conn, batch_id, entries, loader=principal.label, note=request.note
            )
            await access.record(
                conn,
                principal,
                "load.create",
                load.load_id,
                role=access.LOADER,
                batch_id=str(batch_id),
                card_count=load.card_count,
                total_minor=load.total_minor,
            )
            return pb.LoadCardsResponse(load=load_proto(load))

        return await idempotency.once(self.pool, request, work)

    async def GetLoad(
        self, request: pb.GetLoadRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLoadResponse:
        access.back_office()
        load_id = errors.parse_uuid(request.load_id, "load_id", "a load id")
        return pb.GetLoadResponse(load=load_proto(await self.uc.loads.get(load_id)))

    async def ListLoads(
        self, request: pb.ListLoadsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLoadsResponse:
        access.back_office()
        v = Violations()
        batch_id = v.uuid("batch_id", request.batch_id, "a batch id") if request.batch_id else None
        state = _load_state_of(v, request.state)
        v.raise_if_any()
        query = {"batch_id": batch_id, "state": state}
        size = paging.size(request.page_size)
        loads = await self.uc.loads.listed(
            before=paging.cursor(request.page_token, query, uuid.UUID),
            limit=size + 1,
            batch_id=batch_id,
            state=state,
        )
        loads, token = paging.page(loads, size, query, key=lambda load: load.load_id)
        return pb.ListLoadsResponse(loads=[load_proto(x) for x in loads], next_page_token=token)

    async def ListLoadEntries(
        self, request: pb.ListLoadEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLoadEntriesResponse:
        principal = access.back_office()
        load_id = errors.parse_uuid(request.load_id, "load_id", "a load id")
        query = {"load_id": str(load_id)}
        size = paging.size(request.page_size)
        found = await self.uc.loads.entries(
            load_id, after=paging.cursor(request.page_token, query), limit=size + 1
        )
        found, token = paging.page(found, size, query, key=lambda e: e.card_number)
        full = access.sees_numbers(principal)
        return pb.ListLoadEntriesResponse(
            entries=[
                res.LoadEntry(
                    card_id=str(e.card_id),
                    card_number=e.card_number if full else "",
                    masked_card_number=numbers.mask(e.card_number),
                    amount_minor=e.amount_minor,
                )
                for e in found
            ],
            next_page_token=token,
        )

    async def ApproveLoad(
        self, request: pb.ApproveLoadRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApproveLoadResponse:
        principal = access.require_any(access.REVIEWER)
        v = Checks()
        load_id = _load_id(v, request.load_id)
        v.check(request.card_count >= 1, "card_count", "the cards counted: 1 or more")
        v.problem(amount_problem(request.total_minor, "total_minor"))
        v.text("note", request.note, maximum=MAX_NOTE, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.ApproveLoadResponse:
            load = await self.uc.loads.approve(
                conn,
                load_id,
                reviewer=principal.label,
                held=access.roles(principal),
                card_count=request.card_count,
                total_minor=request.total_minor,
            )
            await access.record(
                conn,
                principal,
                "load.approve",
                load_id,
                role=access.REVIEWER,
                reason=request.note,
                batch_id=str(load.batch_id),
                card_count=load.card_count,
                total_minor=load.total_minor,
                loaded_by=load.loaded_by,
            )
            return pb.ApproveLoadResponse(load=load_proto(load))

        return await idempotency.once(self.pool, request, work)

    async def RejectLoad(
        self, request: pb.RejectLoadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectLoadResponse:
        principal = access.require_any(access.REVIEWER)
        v = Violations()
        load_id = _load_id(v, request.load_id)
        v.text("reason", request.reason, maximum=MAX_NOTE)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.RejectLoadResponse:
            load = await self.uc.loads.reject(
                conn,
                load_id,
                reviewer=principal.label,
                held=access.roles(principal),
                reason=request.reason,
            )
            await access.record(
                conn,
                principal,
                "load.reject",
                load_id,
                role=access.REVIEWER,
                reason=request.reason,
                batch_id=str(load.batch_id),
                card_count=load.card_count,
                total_minor=load.total_minor,
                loaded_by=load.loaded_by,
            )
            return pb.RejectLoadResponse(load=load_proto(load))

        return await idempotency.once(self.pool, request, work)
