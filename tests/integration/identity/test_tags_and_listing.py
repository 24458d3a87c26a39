"""Segmentation tags and ListMembers: filters, AIP-158 paging, validation."""

from __future__ import annotations

import base64
import json

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support.ids import uid

from .helpers import fails, register, snapshot

WRITE = ("crm-1", "operator", ["identity:write"])
READ = ("crm-1", "operator", ["identity:read"])
ADMIN = ("crm-1", "operator", ["identity:admin"])


async def tag(stub, mint, member, *tags):
    return await stub.AddMemberTags(
        pb.AddMemberTagsRequest(request_id=uid(), member_id=member.member_id, tags=list(tags)),
        metadata=mint(*WRITE),
    )


async def tags_in_db(identity_app, member) -> list[str]:
    rows = await identity_app.pool.fetch(
        "SELECT tag FROM member_tags WHERE member_id = $1 ORDER BY tag", member.uuid
    )
    return [r["tag"] for r in rows]


async def test_add_tags_keeps_each_once_and_remove_ignores_absent(identity, identity_app, mint):
    member = await register(identity, login=False)
    response = await tag(identity, mint, member, "vip", "b2b", "vip")
    assert list(response.member.tags) == ["b2b", "vip"]
    response = await tag(identity, mint, member, "vip", "segment:2026.q1")
    assert list(response.member.tags) == ["b2b", "segment:2026.q1", "vip"]
    assert await tags_in_db(identity_app, member) == ["b2b", "segment:2026.q1", "vip"]
    removed = await identity.RemoveMemberTags(
        pb.RemoveMemberTagsRequest(
            request_id=uid(), member_id=member.member_id, tags=["b2b", "never-there"]
        ),
        metadata=mint(*WRITE),
    )
    assert list(removed.member.tags) == ["segment:2026.q1", "vip"]
    assert await tags_in_db(identity_app, member) == ["segment:2026.q1", "vip"]


@pytest.mark.parametrize(
    ("tags", "fields"),
    [
        ([], ["tags"]),
        (["VIP"], ["tags[0]"]),
        (["vip", ""], ["tags[1]"]),
        (["vip", "has space", "ok"], ["tags[1]"]),
        (["t" * 65], ["tags[0]"]),
        (["vip\n"], ["tags[0]"]),
        ([f"t{i}" for i in range(65)], ["tags"]),
    ],
)
async def test_bad_tags_are_invalid_and_change_nothing(identity, identity_app, mint, tags, fields):
    member = await register(identity, login=False)
    before = await snapshot(identity_app.pool)
    for rpc, request_class in (
        (identity.AddMemberTags, pb.AddMemberTagsRequest),
        (identity.RemoveMemberTags, pb.RemoveMemberTagsRequest),
    ):
        await fails(
            rpc(
                request_class(request_id=uid(), member_id=member.member_id, tags=tags),
                metadata=mint(*WRITE),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=fields,
        )
    assert await snapshot(identity_app.pool) == before


async def test_a_member_holds_at_most_64_tags(identity, identity_app, mint):
    member = await register(identity, login=False)
    await tag(identity, mint, member, *(f"t{i}" for i in range(60)))
    before = await snapshot(identity_app.pool)
    await fails(
        tag(identity, mint, member, *(f"u{i}" for i in range(5))),
        grpc.StatusCode.FAILED_PRECONDITION,
        "TOO_MANY_TAGS",
    )
    assert await snapshot(identity_app.pool) == before
    await tag(identity, mint, member, *(f"u{i}" for i in range(4)))
    assert len(await tags_in_db(identity_app, member)) == 64


async def list_all(stub, mint, **query) -> tuple[list[str], list[str]]:
    """Follow next_page_token to the end: (member ids in order, page tokens seen)."""
    ids, tokens, token = [], [], ""
    for _ in range(100):
        page = await stub.ListMembers(
            pb.ListMembersRequest(page_token=token, **query), metadata=mint(*READ)
        )
        ids.extend(m.member_id for m in page.members)
        tokens.append(page.next_page_token)
        token = page.next_page_token
        if not token:
            return ids, tokens
    raise AssertionError("paging never ended")


async def test_list_by_tag_pages_through_every_member_once(identity, mint):
    members = [await register(identity, login=False) for _ in range(7)]
    tagged = [m for i, m in enumerate(members) if i != 3 and i != 5]  # five of seven
    for member in tagged:
        await tag(identity, mint, member, "vip")

    first = await identity.ListMembers(
        pb.ListMembersRequest(page_size=2, tag="vip"), metadata=mint(*READ)
    )
    assert [m.member_id for m in first.members] == [m.member_id for m in tagged[:2]]
    assert first.next_page_token

    ids, tokens = await list_all(identity, mint, page_size=2, tag="vip")
    assert ids == [m.member_id for m in tagged]  # oldest first, no duplicates, none missing
    assert len(tokens) == 3 and tokens[-1] == "" and all(tokens[:-1])
    assert len(set(tokens[:-1])) == 2

    # Exactly a multiple of the page size: the last full page says it is the last.
    ids, tokens = await list_all(identity, mint, page_size=5, tag="vip")
    assert len(ids) == 5 and tokens == [""]


async def test_list_filters_by_status_and_tag(identity, mint):
    members = [await register(identity, login=False) for _ in range(4)]
    for member in members[:2]:
        await identity.FreezeMember(
            pb.FreezeMemberRequest(request_id=uid(), member_id=member.member_id, reason="risk"),
            metadata=mint(*ADMIN),
        )
    await tag(identity, mint, members[1], "vip")
    await tag(identity, mint, members[2], "vip")
    frozen, _ = await list_all(identity, mint, status=res.MEMBER_STATUS_FROZEN)
    assert frozen == [members[0].member_id, members[1].member_id]
    active, _ = await list_all(identity, mint, status=res.MEMBER_STATUS_ACTIVE)
    assert active == [members[2].member_id, members[3].member_id]
    frozen_vip, _ = await list_all(identity, mint, status=res.MEMBER_STATUS_FROZEN, tag="vip")
    assert frozen_vip == [members[1].member_id]
    everyone, _ = await list_all(identity, mint)
    assert everyone == [m.member_id for m in members]
    assert (await list_all(identity, mint, tag="nobody-has-this"))[0] == []


async def test_listed_members_are_masked(identity, mint):
    await register(identity, login=False, phone="13812345678", email="li.lei@example.com")
    page = await identity.ListMembers(pb.ListMembersRequest(), metadata=mint(*READ))
    (member,) = page.members
    assert member.phone == "+86138****5678" and member.email == "l***@example.com"
    assert "12345678" not in str(page) and "li.lei" not in str(page)


async def test_page_token_of_another_query_is_refused(identity, mint):
    for _ in range(3):
        member = await register(identity, login=False)
        await tag(identity, mint, member, "vip", "b2b")
    page = await identity.ListMembers(
        pb.ListMembersRequest(page_size=1, tag="vip"), metadata=mint(*READ)
    )
    token = page.next_page_token
    assert token
    for other in (
        pb.ListMembersRequest(page_size=1, tag="b2b", page_token=token),
        pb.ListMembersRequest(page_size=1, page_token=token),
        pb.ListMembersRequest(page_size=1, tag="vip", status=1, page_token=token),
    ):
        await fails(
            identity.ListMembers(other, metadata=mint(*READ)),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=["page_token"],
        )
    # A changed page_size is allowed (AIP-158), the same filters continue.
    more = await identity.ListMembers(
        pb.ListMembersRequest(page_size=5, tag="vip", page_token=token), metadata=mint(*READ)
    )
    assert len(more.members) == 2


async def test_forged_page_token_with_other_filters_is_refused(identity, mint):
    member = await register(identity, login=False)
    await tag(identity, mint, member, "vip")
    forged = base64.urlsafe_b64encode(
        json.dumps({"after": member.member_id, "tag": "b2b", "status": None}).encode()
    ).decode()
    await fails(
        identity.ListMembers(
            pb.ListMembersRequest(tag="vip", page_token=forged), metadata=mint(*READ)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["page_token"],
    )


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (pb.ListMembersRequest(page_size=-1), ["page_size"]),
        (pb.ListMembersRequest(tag="Not A Tag"), ["tag"]),
        (pb.ListMembersRequest(tag="t" * 1000), ["tag"]),
        (pb.ListMembersRequest(status=42), ["status"]),
        (pb.ListMembersRequest(page_token="not-base64!"), ["page_token"]),
        (
            pb.ListMembersRequest(page_token=base64.urlsafe_b64encode(b"[]").decode()),
            ["page_token"],
        ),
        (
            pb.ListMembersRequest(
                page_token=base64.urlsafe_b64encode(b'{"after": "x", "tag": null}').decode()
            ),
            ["page_token"],
        ),
    ],
)
async def test_bad_list_requests_are_invalid_argument(identity, mint, request_, fields):
    await fails(
        identity.ListMembers(request_, metadata=mint(*READ)),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=fields,
    )


async def test_page_size_above_the_maximum_is_capped(identity, mint):
    for _ in range(3):
        await register(identity, login=False)
    page = await identity.ListMembers(
        pb.ListMembersRequest(page_size=100_000), metadata=mint(*READ)
    )
    assert len(page.members) == 3 and page.next_page_token == ""
