"""FreezeMember, UnfreezeMember, CloseMember."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import auth, errors
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain.member import MemberStatus
from ..usecases import status
from . import checks, scopes
from .replies import changed_member

R = TypeVar("R", bound=Message)
StatusRequest = pb.FreezeMemberRequest | pb.UnfreezeMemberRequest | pb.CloseMemberRequest


async def _change(
    deps: IdentityDeps, request: StatusRequest, target: MemberStatus, response_class: type[R]
) -> R:
    if target is MemberStatus.CLOSED:  # a member may close its own account
        member_id = checks.member_target(request.member_id, scopes.ADMIN)
    else:
        auth.require_scope(scopes.ADMIN)
        member_id = errors.parse_uuid(request.member_id)
    v = Violations()
    # Freeze and unfreeze need a reason for the audit trail; closing is the member's own call.
    v.text("reason", request.reason, maximum=256, required=target is not MemberStatus.CLOSED)
    v.raise_if_any()
    return await changed_member(
        deps,
        request,
        response_class,
        lambda conn: status.change_status(deps, conn, member_id, target, request.reason),
    )


async def freeze_member(
    deps: IdentityDeps, request: pb.FreezeMemberRequest
) -> pb.FreezeMemberResponse:
    return await _change(deps, request, MemberStatus.FROZEN, pb.FreezeMemberResponse)


async def unfreeze_member(
    deps: IdentityDeps, request: pb.UnfreezeMemberRequest
) -> pb.UnfreezeMemberResponse:
    return await _change(deps, request, MemberStatus.ACTIVE, pb.UnfreezeMemberResponse)


async def close_member(
    deps: IdentityDeps, request: pb.CloseMemberRequest
) -> pb.CloseMemberResponse:
    return await _change(deps, request, MemberStatus.CLOSED, pb.CloseMemberResponse)
