"""Reading: balances, ledger history, holds, orders."""

from __future__ import annotations

import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from services.kit import auth, errors, paging, timestamps
from services.kit.errors import Violations

from ..usecases import PointsUseCases
from . import convert, scopes


class ReadingApi:
    def __init__(self, usecases: PointsUseCases) -> None:
        self.reading = usecases.reading

    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBalanceResponse:
        member_id = auth.member_target(request.member_id, scopes.READ)
        balance = await self.reading.balance(member_id)
        return pb.GetBalanceResponse(balance=convert.balance_proto(balance))

    async def ListLedgerEntries(
        self, request: pb.ListLedgerEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLedgerEntriesResponse:
        member_id = auth.member_target(request.member_id, scopes.READ)
        v = Violations()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        kind = convert.entry_kind_filter(v, request.kind)
        start = timestamps.field(v, request, "start_time")
        end = timestamps.field(v, request, "end_time")
        v.check(not (start and end and end <= start), "end_time", "must be after start_time")
        v.raise_if_any()
        query = {
            "member_id": str(member_id),
            "kind": kind,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        }
        size = paging.size(request.page_size)
        entries = await self.reading.history(
            member_id,
            kind=kind,
            start=start,
            end=end,
            before=paging.cursor(request.page_token, query, int),
            limit=size + 1,
        )
        entries, token = paging.page(entries, size, query, key=lambda entry: entry.posting_id)
        return pb.ListLedgerEntriesResponse(
            entries=[convert.entry_proto(e) for e in entries], next_page_token=token
        )

    async def GetHold(
        self, request: pb.GetHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetHoldResponse:
        principal = auth.require_owner_or_scope(scopes.READ)
        hold_id = errors.parse_uuid(request.hold_id, "hold_id", "a hold id")
        hold = await self.reading.hold(hold_id, principal.owns)
        return pb.GetHoldResponse(hold=convert.hold_proto(hold))

    async def GetOrder(
        self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOrderResponse:
        principal = auth.require_owner_or_scope(scopes.READ)
        v = Violations()
        v.text("order_id", request.order_id, maximum=128)
        v.raise_if_any()
        order = await self.reading.order(request.order_id, principal.owns)
        return pb.GetOrderResponse(order=convert.order_proto(order))
