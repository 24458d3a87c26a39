"""Gift cards through the back office, as the procedure has people do it: a product (manager),
a batch requested (requester) and approved (someone else), generated and its secrets exported
once (the printer's copy goes to the demo's secrets file), value loaded (loader) and reviewed
(another person), drawn by a sales desk (requested, approved, handed over), each card sold to
its buyer (sales desk) and the sale re-checked (finance); the storefront binds each card to its
member, who pays part of an order with it (commerce.py).

Every call has a request id drawn from the seed, so a second run replays them; once every buyer
holds their card the procedure is done, and a second run only reads the cards back."""

from __future__ import annotations

from loyalty.giftcard.v1 import giftcard_service_pb2 as gpb
from loyalty.giftcard.v1 import resources_pb2 as gres
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb

from .people import APPROVER, FINANCE, LOADER, MANAGER, REQUESTER, REVIEWER, SALES, Callers
from .target import Secrets, call, each, ident

FACE_MINOR = 200_00  # 200 CNY a card
DESK = "demo-desk-1"


class Cards:
    def __init__(self, call: Callers, secrets: Secrets, seed: int) -> None:
        self.call = call
        self.secrets = secrets
        self.seed = seed

    def _id(self, *what: object) -> str:
        return ident(self.seed, "cards", *what)

    async def issue(self, holders: dict[int, str]) -> dict[int, str]:
        """A card for each holder (index → member id), ACTIVE and bound to them: their card
        ids by index."""
        bound = await self.bound(holders)
        if len(bound) == len(holders):
            return bound
        numbers = await self._produce(len(holders))
        pins = self.secrets.data["cards"]
        cards = dict(zip(sorted(holders), numbers, strict=True))
        await self._sell(list(cards.values()))

        async def bind(index: int) -> tuple[int, str]:
            number = cards[index]
            request = wpb.BindCardRequest(
                request_id=self._id("bind", index),
                member_id=holders[index],
                card=wpb.CardSecret(card_number=number, pin=pins[number]),
            )
            return index, (
                await call(self.call.wallet.BindCard, request, self.call.shop)
            ).card.card_id

        return dict(await each(sorted(holders), bind))

    async def bound(self, holders: dict[int, str]) -> dict[int, str]:
        """The holders' cards already bound (the demo binds one each)."""

        async def card_of(index: int) -> tuple[int, str | None]:
            listed = await call(
                self.call.wallet.ListMemberCards,
                wpb.ListMemberCardsRequest(member_id=holders[index]),
                self.call.shop,
            )
            return index, listed.cards[0].card_id if listed.cards else None

        return {i: card for i, card in await each(sorted(holders), card_of) if card}

    async def _produce(self, count: int) -> list[str]:
        """The batch, from request to loaded and reviewed: its card numbers, in the export's
        order (their PINs in the secrets file)."""
        gc, manager = self.call.giftcard, self.call.as_(MANAGER)
        product = await call(
            gc.CreateProduct,
            gpb.CreateProductRequest(
                request_id=self._id("product"),
                product=gres.Product(
                    display_name="Gift card 200",
                    kind=gres.PRODUCT_KIND_DENOMINATION,
                    currency_code="CNY",
                    face_value_minor=FACE_MINOR,
                    validity_months=36,
                    channels=["online", "store"],
                    enabled=True,
                ),
            ),
            manager,
        )
        self.product_id = product.product.product_id
        batch = await call(
            gc.CreateBatch,
            gpb.CreateBatchRequest(
                request_id=self._id("batch"),
                product_id=self.product_id,
                card_count=count,
                face_value_minor=FACE_MINOR,
                note=f"demo seed {self.seed}",
            ),
            self.call.as_(REQUESTER),
        )
        batch_id = batch.batch.batch_id
        approve = gpb.ApproveBatchRequest(request_id=self._id("approve"), batch_id=batch_id)
        await call(gc.ApproveBatch, approve, self.call.as_(APPROVER))
        generate = gpb.GenerateBatchCardsRequest(request_id=self._id("generate"), batch_id=batch_id)
        await call(gc.GenerateBatchCards, generate, manager)
        numbers = await self._export(batch_id)
        load = await call(
            gc.LoadCards,
            gpb.LoadCardsRequest(
                request_id=self._id("load"),
                batch_id=batch_id,
                entries=[
                    gpb.LoadEntryInput(card_number=n, amount_minor=FACE_MINOR) for n in numbers
                ],
            ),
            self.call.as_(LOADER),
        )
        review = gpb.ApproveLoadRequest(
            request_id=self._id("review"),
            load_id=load.load.load_id,
            card_count=len(numbers),
            total_minor=FACE_MINOR * len(numbers),
        )
        await call(gc.ApproveLoad, review, self.call.as_(REVIEWER))
        return numbers

    async def _export(self, batch_id: str) -> list[str]:
        """The secrets, page after page, kept as each page arrives: a page is delivered once
        (a replay comes without the PINs), so the file must have them from the first run."""
        pins = self.secrets.data["cards"]
        numbers: list[str] = []
        page, remaining = 0, 1
        while remaining:
            page += 1
            exported = await call(
                self.call.giftcard.ExportBatchSecrets,
                gpb.ExportBatchSecretsRequest(
                    request_id=self._id("export", page), batch_id=batch_id
                ),
                self.call.as_(MANAGER),
            )
            for row in exported.rows:
                if row.pin:
                    pins[row.card_number] = row.pin
                elif row.card_number not in pins:
                    raise SystemExit(
                        f"the PINs of the demo's gift cards were exported once, and "
                        f"{self.secrets.path} no longer has them: the card steps cannot go on"
                    )
                numbers.append(row.card_number)
            self.secrets.save()
            remaining = exported.remaining_count
        return numbers

    async def _sell(self, numbers: list[str]) -> None:
        """A sales desk draws the cards (requested, approved, handed over), sells each to its
        buyer, and finance re-checks every sale."""
        gc = self.call.giftcard
        requisition = await call(
            gc.CreateRequisition,
            gpb.CreateRequisitionRequest(
                request_id=self._id("requisition"),
                kind=gres.REQUISITION_KIND_SALES_DESK,
                sales_desk=DESK,
                lines=[
                    gres.RequisitionLine(
                        product_id=self.product_id,
                        face_value_minor=FACE_MINOR,
                        card_count=len(numbers),
                    )
                ],
            ),
            self.call.as_(REQUESTER),
        )
        requisition_id = requisition.requisition.requisition_id
        approve = gpb.ApproveRequisitionRequest(
            request_id=self._id("requisition-ok"), requisition_id=requisition_id
        )
        await call(gc.ApproveRequisition, approve, self.call.as_(APPROVER))
        fulfil = gpb.FulfilRequisitionRequest(
            request_id=self._id("fulfil"), requisition_id=requisition_id, card_numbers=numbers
        )
        await call(gc.FulfilRequisition, fulfil, self.call.as_(MANAGER))

        async def sell(number: str) -> None:
            sale = await call(
                gc.CreateSale,
                gpb.CreateSaleRequest(
                    request_id=self._id("sale", number),
                    requisition_id=requisition_id,
                    card_numbers=[number],
                    paid_amount_minor=FACE_MINOR,
                    payment_method="pos",
                ),
                self.call.as_(SALES),
            )
            check = gpb.CheckSaleRequest(
                request_id=self._id("sale-check", number),
                sale_id=sale.sale.sale_id,
                outcome=gres.SALE_CHECK_STATE_CONFIRMED,
            )
            await call(gc.CheckSale, check, self.call.as_(FINANCE))

        # One desk sells one card at a time: the sales of a requisition queue on it anyway.
        await each(numbers, sell, limit=4)
