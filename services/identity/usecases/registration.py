"""Registering a member: its contacts proven by one-time codes (self-service), its provider
account by the provider's assertion (mini program)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc

from loyalty.identity.v1 import events_pb2 as ev
from loyalty.identity.v1 import resources_pb2 as res
from services.kit import errors, ids, timestamps

from ..deps import IdentityDeps
from ..domain import member as rules
from ..domain import registration
from ..domain.codes import Purpose
from ..domain.member import Profile
from ..domain.registration import Channel
from ..store import members
from ..store.members import MemberRow
from . import accounts, codes
from .members import changed


@dataclass(frozen=True)
class NewMember:
    channel: Channel
    phone: str | None  # E.164
    email: str | None  # normalised
    profile: Profile
    referral_code: str | None  # trimmed and upper-cased; None when not given


async def count_attempt(deps: IdentityDeps, new: NewMember, source: str) -> None:
    """Registrations are limited per phone number and e-mail address, and per caller; staff
    channels (store desk, bulk import) count per identifier only: one operator client may
    register many members in an hour."""
    limits = deps.limits
    wanted = [
        (limits.register_identifier, deps.pseudonym("identifier", identifier))
        for identifier in (new.phone, new.email)
        if identifier
    ]
    if not registration.operator_only(new.channel):
        wanted.append((limits.register_source, deps.pseudonym("source", source)))
    await deps.limiter.take(*wanted)


@dataclass(frozen=True)
class Proofs:
    """What a registration proves, tried before its transaction (see codes.check and
    accounts.assert_account): a code for each contact a self-service channel registers, the
    provider's word for the account it comes with."""

    phone: codes.CodeProof | None = None
    email: codes.CodeProof | None = None
    account: accounts.AccountProof | None = None


async def check_proofs(
    deps: IdentityDeps,
    new: NewMember,
    *,
    phone_code: str | None,
    email_code: str | None,
    provider: str,
    assertion: str,
) -> Proofs:
    """Tries the codes given for the contacts (None: the channel proves none) and asks the
    provider about the assertion (if any)."""
    phone = email = account = None
    if phone_code is not None and new.phone:
        phone = await codes.check(
            deps, codes.Address("sms", new.phone), Purpose.REGISTER, phone_code
        )
    if email_code is not None and new.email:
        email = await codes.check(
            deps, codes.Address("email", new.email), Purpose.REGISTER, email_code
        )
    if assertion:
        account = await accounts.assert_account(deps, provider, assertion)
    return Proofs(phone, email, account)


def _code_invalid(field_path: str):
    def refusal() -> errors.AppError:
        return errors.invalid(
            [(field_path, "wrong, expired, used or tried too often: ask for a new code")],
            "VERIFICATION_CODE_INVALID",
        )

    return refusal


async def hash_password(deps: IdentityDeps, password: str) -> str | None:
    """Called before the transaction opens: an argon2 hash takes tens of milliseconds by design,
    too long to hold a connection and the request's idempotency row for."""
    return await deps.passwords.hash(password) if password else None


async def register(
    deps: IdentityDeps, conn, new: NewMember, password_hash: str | None, proofs: Proofs
) -> MemberRow:
    # The codes first: nothing about a contact (registered or not) is told before it is proven.
    if proofs.phone is not None:
        await proofs.phone.spend(deps, conn, _code_invalid("phone_verification_code"))
    if proofs.email is not None:
        await proofs.email.spend(deps, conn, _code_invalid("email_verification_code"))
    subject = proofs.account.vouched() if proofs.account is not None else None
    referred_by = None
    if new.referral_code is not None:
        referred_by = await members.id_by_referral_code(conn, new.referral_code)
        if referred_by is None:
            raise errors.invalid(
                [("referral_code", "unknown referral code")], "REFERRAL_CODE_INVALID"
            )
    member_id = ids.new_id()
    try:
        await members.insert(
            conn,
            member_id=member_id,
            phone=new.phone,
            email=new.email,
            password_hash=password_hash,
            channel=new.channel,
            profile=new.profile,
            referral_code=rules.new_referral_code(),
            referred_by=referred_by,
        )
    except members.PhoneTaken as exc:
        raise errors.already_exists(
            "PHONE_ALREADY_REGISTERED", "the phone number is registered already"
        ) from exc
    except members.EmailTaken as exc:
        raise errors.already_exists(
            "EMAIL_ALREADY_REGISTERED", "the e-mail address is registered already"
        ) from exc
    except members.ReferralCodeTaken as exc:
        raise errors.AppError(grpc.StatusCode.ABORTED, "CONFLICT", "try again") from exc
    event = _registered(member_id, new.channel, referred_by, deps)
    event.filled_fields.extend(new.profile.filled_fields())
    row = await changed(deps, conn, member_id, "member.register", event, channel=new.channel)
    if proofs.account is None or subject is None:
        return row
    await accounts.link_new(deps, conn, member_id, proofs.account.provider, subject)
    return await changed(deps, conn, member_id, "member.link", provider=proofs.account.provider)


def _registered(
    member_id: uuid.UUID, channel: Channel, referred_by: uuid.UUID | None, deps: IdentityDeps
) -> ev.MemberRegistered:
    return ev.MemberRegistered(
        member_id=str(member_id),
        # The contract's enum names are the channel's, prefixed: APP → REGISTRATION_CHANNEL_APP.
        channel=res.RegistrationChannel.Value(f"REGISTRATION_CHANNEL_{channel.name}"),
        referred_by=str(referred_by) if referred_by else "",
        registered_time=timestamps.to_proto(deps.now()),
    )
