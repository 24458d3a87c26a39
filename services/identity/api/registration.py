"""RegisterMember."""

from __future__ import annotations

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import auth
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain import codes, contact, registration
from ..domain import member as rules
from ..domain.accounts import ASSERTION_MAX, PROVIDER_RULE, PROVIDERS
from ..usecases import registration as usecase
from . import checks, convert, scopes
from .profile import check_profile
from .replies import changed_member


async def register_member(
    deps: IdentityDeps, request: pb.RegisterMemberRequest, source: str
) -> pb.RegisterMemberResponse:
    channel = convert.CHANNELS.get(request.channel)
    if channel is not None and registration.operator_only(channel):
        auth.require_scope(scopes.WRITE)  # staff channels: authorised before anything is read
    v = Violations()
    checks.request_id(v, request.request_id)
    v.check(
        channel is not None,
        "channel",
        "required: app, web, mini_program, store_desk or bulk_import",
    )
    phone = email = None
    if not request.phone and not request.email:
        v.add("phone", "a phone number or an e-mail address is required")
    if request.phone:
        phone = contact.normalize_phone(request.phone)
        v.check(phone is not None, "phone", "not a valid phone number")
    if request.email:
        email = contact.normalize_email(request.email)
        v.check(email is not None, "email", "not a valid e-mail address")
    if request.password or registration.needs_password(channel):
        problem = rules.password_problem(request.password)
        if problem:
            v.add("password", problem)
    check_profile(v, request.profile, set(rules.PROFILE_FIELDS), deps.now().date())
    v.text("referral_code", request.referral_code, maximum=16, required=False)
    # Self-service proves each contact with a code; staff channels prove none (codes ignored).
    proves = channel is not None and registration.proves_contacts(channel)
    phone_code = _code(v, "phone_verification_code", request.phone_verification_code, phone, proves)
    email_code = _code(v, "email_verification_code", request.email_verification_code, email, proves)
    if request.provider_assertion or request.provider or registration.needs_assertion(channel):
        v.check(request.provider in PROVIDERS, "provider", PROVIDER_RULE)
        v.text("provider_assertion", request.provider_assertion, maximum=ASSERTION_MAX)
    v.raise_if_any("PASSWORD_TOO_WEAK" if v.names("password") else "INVALID_ARGUMENT")
    assert channel is not None  # refused above
    new = usecase.NewMember(
        channel=channel,
        phone=phone,
        email=email,
        profile=convert.profile(request.profile),
        # Trimmed only when given: a code of blanks is a code, and unknown.
        referral_code=request.referral_code.strip().upper() if request.referral_code else None,
    )
    await usecase.count_attempt(deps, new, source)
    proofs = await usecase.check_proofs(
        deps,
        new,
        phone_code=phone_code,
        email_code=email_code,
        provider=request.provider,
        assertion=request.provider_assertion,
    )
    password_hash = await usecase.hash_password(deps, request.password)
    return await changed_member(
        deps,
        request,
        pb.RegisterMemberResponse,
        lambda conn: usecase.register(deps, conn, new, password_hash, proofs),
    )


def _code(
    v: Violations, field_path: str, code: str, contact: str | None, proves: bool
) -> str | None:
    """The code given for a contact that must be proven, checked for shape; None when there is
    no contact or the channel proves none (the field is then not looked at)."""
    if not contact or not proves:
        return None
    problem = codes.code_problem(code)
    if problem:
        v.add(field_path, f"required with its contact: the code sent to it ({problem})")
    return code
