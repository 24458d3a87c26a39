"""What exists before the load, done before any fault: the callers (tools/suite/callers.py:
the first administrator, made with identity's `create-client` command, a client per person of
the gift-card back office and the storefront's backend, each with a token); the members the
clients act for, registered as shoppers register; a paid plan; gift cards through the whole
back-office procedure (tools/suite/giftcards.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.identity.v1 import resources_pb2 as ires
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.subscription.v1 import subscription_admin_service_pb2 as sapb
from services.identity.domain import contact
from services.identity.verification import DevFileSender
from tools.suite import callers, giftcards, plans
from tools.suite.callers import Callers, uid

from .book import Book
from .suite import Suite

ADMIN = "chaos-admin"
CARD_FACE_MINOR = 1_000_00
PLAN = plans.plus_monthly()


async def sign_in(suite: Suite, call: Callers, book: Book) -> None:
    """The administrator (as the README makes the first one) and every person's token, which
    the book's calls carry."""
    code, out = await suite.command("identity", *callers.create_admin_command(ADMIN))
    if code:
        raise RuntimeError(f"create-client failed: {out}")
    await call.sign_in(ADMIN, callers.printed_secret(out))
    book.metadata.update(call.tokens)


async def register(book: Book, codes_dir: Path, phone: str) -> str:
    """A shopper registers in the app with the code sent to its phone: its member id. Asked
    again with the same request id until answered; a refused code gets a new one (and a new
    request id: the refused request changed nothing)."""
    sender = DevFileSender(codes_dir)
    address = contact.normalize_phone(phone) or phone
    for attempt in range(5):
        await book.read(
            "anyone",
            "identity",
            "SendVerificationCode",
            ipb.SendVerificationCodeRequest(
                phone=phone, purpose=ires.VERIFICATION_PURPOSE_REGISTER
            ),
        )
        code = sender.path(address).read_text().strip()
        request = ipb.RegisterMemberRequest(
            request_id=uid(),
            phone=phone,
            password="chaos-pass-1",
            channel=ires.REGISTRATION_CHANNEL_APP,
            phone_verification_code=code,
        )
        try:
            registered = await book.call("anyone", "identity", "RegisterMember", request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and attempt < 4:
                # The code was refused (nothing registered): ask for another.
                book.retried[f"identity.RegisterMember: {exc.code().name}"] += 1
                continue
            raise
        return registered.member.member_id
    raise AssertionError("unreachable")


async def known(book: Book, member_ids: list[str], timeout: float = 60) -> None:
    """Wait until points knows every member (member.registered applied): its clients need it."""
    deadline = asyncio.get_running_loop().time() + timeout
    for member_id in member_ids:
        while True:
            try:
                await book.read(
                    "shop", "points", "GetBalance", ppb.GetBalanceRequest(member_id=member_id)
                )
                break
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"points never heard of member {member_id}")
            await asyncio.sleep(0.2)


async def plan(book: Book) -> None:
    await book.call(
        "admin",
        "subscription_admin",
        "CreatePlan",
        sapb.CreatePlanRequest(request_id=uid(), plan=PLAN),
    )


async def sold_cards(call: Callers, count: int) -> list[tuple[str, str]]:
    """`count` cards of CARD_FACE_MINOR, sold: their numbers and PINs, ACTIVE."""
    return await giftcards.sold_cards(call, count, CARD_FACE_MINOR, "Chaos card")
