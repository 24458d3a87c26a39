"""Login, RefreshToken, RevokeRefreshToken."""

from __future__ import annotations

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import errors
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain import codes, contact
from ..domain import member as rules
from ..usecases import sessions
from ..usecases.codes import Address
from . import convert

# The longest identifier worth parsing: an e-mail address has at most 254 characters.
IDENTIFIER_MAX = 254


async def login(deps: IdentityDeps, request: pb.LoginRequest, source: str) -> pb.LoginResponse:
    v = Violations()
    identifier = request.identifier.strip()
    phone = email = None
    if len(identifier) > IDENTIFIER_MAX:
        v.add("identifier", f"at most {IDENTIFIER_MAX} characters")
    elif "@" in identifier:
        email = contact.normalize_email(identifier)
        v.check(email is not None, "identifier", "not a valid e-mail address")
    else:
        phone = contact.normalize_phone(identifier)
        v.check(phone is not None, "identifier", "not a valid phone number or e-mail")
    if request.verification_code and not request.password:  # signing in without a password
        problem = codes.code_problem(request.verification_code)
        if problem:
            v.add("verification_code", problem)
    else:
        v.check(
            0 < len(request.password) <= rules.PASSWORD_MAX,
            "password",
            "required (or verification_code instead), at most 128 characters",
        )
        v.check(not request.verification_code, "verification_code", "not with a password")
    v.raise_if_any()
    address = Address.of(phone=phone, email=email)
    if request.verification_code and not request.password and address is not None:
        member_id, tokens = await sessions.login_with_code(
            deps, address, request.verification_code, source
        )
    else:
        attempt = sessions.Attempt(
            phone=phone, email=email, password=request.password, source=source
        )
        member_id, tokens = await sessions.login(deps, attempt)
    return pb.LoginResponse(tokens=convert.token_pair(tokens), member_id=str(member_id))


def _check_refresh_token(token: str) -> None:
    if not token or len(token) > 256:
        raise errors.invalid([("refresh_token", "required")])


async def refresh_token(
    deps: IdentityDeps, request: pb.RefreshTokenRequest
) -> pb.RefreshTokenResponse:
    _check_refresh_token(request.refresh_token)
    tokens = await sessions.refresh(deps, request.refresh_token)
    return pb.RefreshTokenResponse(tokens=convert.token_pair(tokens))


async def revoke_refresh_token(
    deps: IdentityDeps, request: pb.RevokeRefreshTokenRequest
) -> pb.RevokeRefreshTokenResponse:
    _check_refresh_token(request.refresh_token)
    await sessions.revoke(deps, request.refresh_token)
    return pb.RevokeRefreshTokenResponse()
