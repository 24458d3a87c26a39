"""LinkAccount, UnlinkAccount."""

from __future__ import annotations

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import errors
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain.accounts import ASSERTION_MAX, PROVIDER_RULE, PROVIDERS, SUBJECT_MAX
from ..usecases import accounts
from . import checks, scopes
from .replies import changed_member


async def link_account(
    deps: IdentityDeps, request: pb.LinkAccountRequest, source: str
) -> pb.LinkAccountResponse:
    member_id = checks.member_target(request.member_id, scopes.WRITE)
    v = Violations()
    checks.request_id(v, request.request_id)
    v.check(request.provider in PROVIDERS, "provider", PROVIDER_RULE)
    v.text("subject", request.subject, maximum=SUBJECT_MAX, required=False)
    v.text("assertion", request.assertion, maximum=ASSERTION_MAX)
    v.raise_if_any()
    await accounts.count_link_attempt(deps, member_id, source)
    proof = await accounts.assert_account(deps, request.provider, request.assertion)
    return await changed_member(
        deps,
        request,
        pb.LinkAccountResponse,
        lambda conn: accounts.link(deps, conn, member_id, proof, request.subject),
    )


async def unlink_account(
    deps: IdentityDeps, request: pb.UnlinkAccountRequest
) -> pb.UnlinkAccountResponse:
    member_id = checks.member_target(request.member_id, scopes.WRITE)
    if request.provider not in PROVIDERS:
        raise errors.invalid([("provider", PROVIDER_RULE)])
    return await changed_member(
        deps,
        request,
        pb.UnlinkAccountResponse,
        lambda conn: accounts.unlink(deps, conn, member_id, request.provider),
    )
