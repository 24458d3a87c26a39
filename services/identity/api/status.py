"""FreezeMember, UnfreezeMember, CloseMember."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import auth, errors
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain import codes
from ..domain import member as rules
from ..domain.member import MemberStatus
from ..usecases import reauth, status
from . import checks, scopes
from .replies import changed_member

R = TypeVar("R", bound=Message)
StatusRequest = pb.FreezeMemberRequest | pb.UnfreezeMemberRequest


async def _change(
    deps: IdentityDeps, request: StatusRequest, target: MemberStatus, response_class: type[R]
) -> R:
    auth.require_scope(scopes.ADMIN)
    member_id = errors.parse_uuid(request.member_id)
    v = Violations()
    v.text("reason", request.reason, maximum=256)  # for the audit trail
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
    """A member may close its own account, proving it is itself again (its password, or a
    code); an operator with identity:admin proves nothing more."""
    member_id = checks.member_target(request.member_id, scopes.ADMIN)
    v = Violations()
    v.text("reason", request.reason, maximum=256, required=False)
    v.text("password", request.password, maximum=rules.PASSWORD_MAX, required=False)
    if request.verification_code:
        problem = codes.code_problem(request.verification_code)
        if problem:
            v.add("verification_code", problem)
    v.raise_if_any()
    proof = reauth.PROVEN
    if auth.require().kind == "member":
        if not request.password and not request.verification_code:
            raise errors.invalid(
                [("password", "the member's password, or verification_code without one")],
                "REAUTHENTICATION_REQUIRED",
            )
        proof = await reauth.check(deps, member_id, request.password, request.verification_code)
    return await changed_member(
        deps,
        request,
        pb.CloseMemberResponse,
        lambda conn: status.close(deps, conn, member_id, request.reason, proof),
    )
