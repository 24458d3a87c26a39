"""LinkAccount, UnlinkAccount."""

from __future__ import annotations

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import errors
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain.accounts import PROVIDERS
from ..usecases import accounts
from . import checks, scopes
from .replies import changed_member

_ONE_OF_PROVIDERS = f"one of {', '.join(sorted(PROVIDERS))}"


async def link_account(
    deps: IdentityDeps, request: pb.LinkAccountRequest, source: str
) -> pb.LinkAccountResponse:
    member_id = checks.member_target(request.member_id, scopes.WRITE)
    v = Violations()
    checks.request_id(v, request.request_id)
    v.check(request.provider in PROVIDERS, "provider", _ONE_OF_PROVIDERS)
    v.text("subject", request.subject, maximum=128)
    v.raise_if_any()
    await accounts.count_link_attempt(deps, member_id, source)
    return await changed_member(
        deps,
        request,
        pb.LinkAccountResponse,
        lambda conn: accounts.link(deps, conn, member_id, request.provider, request.subject),
    )


async def unlink_account(
    deps: IdentityDeps, request: pb.UnlinkAccountRequest
) -> pb.UnlinkAccountResponse:
    member_id = checks.member_target(request.member_id, scopes.WRITE)
    if request.provider not in PROVIDERS:
        raise errors.invalid([("provider", _ONE_OF_PROVIDERS)])
    return await changed_member(
        deps,
        request,
        pb.UnlinkAccountResponse,
        lambda conn: accounts.unlink(deps, conn, member_id, request.provider),
    )
