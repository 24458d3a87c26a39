"""SendVerificationCode."""

from __future__ import annotations

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import timestamps
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain import contact
from ..usecases import codes
from . import convert


async def send_verification_code(
    deps: IdentityDeps, request: pb.SendVerificationCodeRequest, source: str
) -> pb.SendVerificationCodeResponse:
    v = Violations()
    purpose = convert.PURPOSES.get(request.purpose)
    v.check(purpose is not None, "purpose", "required: register, sign_in or close_member")
    phone = email = None
    if bool(request.phone) == bool(request.email):
        v.add("phone", "exactly one of phone and email")
    elif request.phone:
        phone = contact.normalize_phone(request.phone)
        v.check(phone is not None, "phone", "not a valid phone number")
    else:
        email = contact.normalize_email(request.email)
        v.check(email is not None, "email", "not a valid e-mail address")
    v.raise_if_any()
    address = codes.Address.of(phone=phone, email=email)
    assert address is not None and purpose is not None  # refused above
    expires = await codes.send(deps, address, purpose, source)
    return pb.SendVerificationCodeResponse(expire_time=timestamps.to_proto(expires))
