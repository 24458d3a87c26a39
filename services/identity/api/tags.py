"""AddMemberTags, RemoveMemberTags, ListMembers."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import auth, errors, paging
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain import tags as rules
from ..store.members import MemberRow
from ..usecases import members
from ..usecases import tags as usecase
from . import checks, convert, scopes
from .replies import changed_member

R = TypeVar("R", bound=Message)
TagChange = Callable[[IdentityDeps, asyncpg.Connection, uuid.UUID, list[str]], Awaitable[MemberRow]]


def _tags(tags: Sequence[str]) -> list[str]:
    checks.at_most("tags", tags, rules.MAX_TAGS, minimum=1)
    v = Violations()
    for i, tag in enumerate(tags):
        problem = rules.tag_problem(tag)
        if problem:
            v.add(f"tags[{i}]", problem)
    v.raise_if_any()
    return sorted(set(tags))


async def _change_tags(
    deps: IdentityDeps,
    request: pb.AddMemberTagsRequest | pb.RemoveMemberTagsRequest,
    change: TagChange,
    response_class: type[R],
) -> R:
    auth.require_scope(scopes.WRITE)
    member_id = errors.parse_uuid(request.member_id)
    tags = _tags(request.tags)
    return await changed_member(
        deps, request, response_class, lambda conn: change(deps, conn, member_id, tags)
    )


async def add_member_tags(
    deps: IdentityDeps, request: pb.AddMemberTagsRequest
) -> pb.AddMemberTagsResponse:
    return await _change_tags(deps, request, usecase.add, pb.AddMemberTagsResponse)


async def remove_member_tags(
    deps: IdentityDeps, request: pb.RemoveMemberTagsRequest
) -> pb.RemoveMemberTagsResponse:
    return await _change_tags(deps, request, usecase.remove, pb.RemoveMemberTagsResponse)


async def list_members(
    deps: IdentityDeps, request: pb.ListMembersRequest
) -> pb.ListMembersResponse:
    auth.require_scope(scopes.READ)
    v = Violations()
    v.check(0 <= request.page_size, "page_size", "must not be negative")
    if request.tag:
        problem = rules.tag_problem(request.tag)
        if problem:
            v.add("tag", problem)
    status = convert.STATUSES.get(request.status) if request.status else None
    v.check(request.status == 0 or status is not None, "status", "unknown status")
    v.raise_if_any()
    tag = request.tag or None
    query = {"tag": tag, "status": status}
    after = paging.cursor(request.page_token, query, uuid.UUID)
    size = paging.size(request.page_size)
    rows = await members.page(deps, tag=tag, status=status, after=after, limit=size + 1)
    rows, token = paging.page(rows, size, query, key=lambda row: row.member_id)
    return pb.ListMembersResponse(
        members=[convert.member(row, deps.vault) for row in rows], next_page_token=token
    )
