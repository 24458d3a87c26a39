"""The demo's members, registered by an operator (bulk import: no one-time code, no password but
the tour's members'), tagged `demo-<seed>` so that a later run finds them (ListMembers), some
referred by others (with the referrer's referral code) and some verified (real name)."""

from __future__ import annotations

import asyncio
import re

import grpc

from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.identity.v1 import resources_pb2 as ires
from services.identity.domain.id_number import check_character

from .people import Callers
from .plan import Person
from .target import CONCURRENCY, call, ident, reason

SURNAMES = "李王张刘陈杨赵黄周吴"
GIVEN = "雷梅军英浩芳涛欣波兰强燕"


def tag(seed: int) -> str:
    return f"demo-{seed}"


def id_number(seed: int, person: Person) -> str:
    """A valid resident ID number of the member's own (GB 11643), unique per seed and index."""
    born = (person.birthday or "1990-01-01").replace("-", "")
    first17 = f"9{seed % 1000:03d}{person.index // 1000:02d}{born}{person.index % 1000:03d}"
    return first17 + check_character(first17)


def legal_name(person: Person) -> str:
    return SURNAMES[person.index % len(SURNAMES)] + GIVEN[person.index % len(GIVEN)]


class Members:
    def __init__(self, call: Callers, seed: int, people: list[Person]) -> None:
        self.call = call
        self.seed = seed
        self.people = people

    async def listed(self) -> dict[int, ires.Member]:
        """The seed's members registered already, by index (their nicknames end with it)."""
        found: dict[int, ires.Member] = {}
        token = ""
        while True:
            page = await call(
                self.call.identity.ListMembers,
                ipb.ListMembersRequest(page_size=500, page_token=token, tag=tag(self.seed)),
                self.call.admin,
            )
            for member in page.members:
                number = re.search(r"[0-9]+$", member.profile.nickname)
                if number:
                    found[int(number.group())] = member
            token = page.next_page_token
            if not token:
                return found

    async def register(self) -> dict[int, ires.Member]:
        """Every member, registered (after their referrer: they need its code), tagged, and
        verified when the plan says so."""
        found = await self.listed()
        loop = asyncio.get_running_loop()
        done: dict[int, asyncio.Future[ires.Member]] = {
            p.index: loop.create_future() for p in self.people
        }
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(person: Person) -> ires.Member:
            member = found.get(person.index)
            referral = ""
            if member is None and person.referrer is not None:
                referral = (await done[person.referrer]).referral_code
            async with gate:
                if member is None:
                    member = await self._register(person, referral)
                done[person.index].set_result(member)
                if person.verify and not member.verified:
                    await self._verify(person, member.member_id)
            return member

        tasks = [asyncio.ensure_future(one(p)) for p in self.people]
        try:
            return {
                p.index: m for p, m in zip(self.people, await asyncio.gather(*tasks), strict=True)
            }
        finally:
            for task in tasks:
                task.cancel()

    async def _register(self, person: Person, referral: str) -> ires.Member:
        request = ipb.RegisterMemberRequest(
            request_id=ident(self.seed, "register", person.index),
            phone=person.phone,
            password=person.password,
            channel=ires.REGISTRATION_CHANNEL_BULK_IMPORT,
            referral_code=referral,
            profile=ires.Profile(
                nickname=person.nickname,
                gender=person.gender,  # type: ignore[arg-type]
                birthday=person.birthday,
                region=person.region,
            ),
        )
        try:
            member = (
                await call(self.call.identity.RegisterMember, request, self.call.admin)
            ).member
        except grpc.aio.AioRpcError as exc:
            if reason(exc) != "PHONE_ALREADY_REGISTERED":
                raise
            raise SystemExit(
                f"+86 {person.phone} is registered already, but not as a member of the demo's "
                f"seed {self.seed} (tag {tag(self.seed)}): another seed (DEMO_SEED) or data set "
                "uses it"
            ) from None
        tagged = ipb.AddMemberTagsRequest(
            request_id=ident(self.seed, "tag", person.index),
            member_id=member.member_id,
            tags=[tag(self.seed)],
        )
        await call(self.call.identity.AddMemberTags, tagged, self.call.admin)
        return member

    async def _verify(self, person: Person, member_id: str) -> None:
        request = ipb.VerifyRealNameRequest(
            request_id=ident(self.seed, "verify", person.index),
            member_id=member_id,
            legal_name=legal_name(person),
            id_number=id_number(self.seed, person),
        )
        await call(self.call.identity.VerifyRealName, request, self.call.admin)
