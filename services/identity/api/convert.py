"""Proto ⇄ domain: enum maps, request profiles, members, tokens and clients as the contract shows
them (ids as strings, personal data masked)."""

from __future__ import annotations

import datetime as dt

from loyalty.identity.v1 import resources_pb2 as res
from services.kit import timestamps

from ..crypto import Vault
from ..domain import contact
from ..domain.codes import Purpose
from ..domain.member import MemberStatus, Profile
from ..domain.registration import Channel
from ..store.clients import ClientRow
from ..store.members import MemberRow
from ..usecases.sessions import Tokens

CHANNELS = {
    res.REGISTRATION_CHANNEL_APP: Channel.APP,
    res.REGISTRATION_CHANNEL_WEB: Channel.WEB,
    res.REGISTRATION_CHANNEL_MINI_PROGRAM: Channel.MINI_PROGRAM,
    res.REGISTRATION_CHANNEL_STORE_DESK: Channel.STORE_DESK,
    res.REGISTRATION_CHANNEL_BULK_IMPORT: Channel.BULK_IMPORT,
}
GENDERS = {
    res.GENDER_UNSPECIFIED: "",
    res.GENDER_FEMALE: "female",
    res.GENDER_MALE: "male",
    res.GENDER_OTHER: "other",
}
_GENDER_ENUM = {v: k for k, v in GENDERS.items()}
STATUSES = {
    res.MEMBER_STATUS_ACTIVE: MemberStatus.ACTIVE,
    res.MEMBER_STATUS_FROZEN: MemberStatus.FROZEN,
    res.MEMBER_STATUS_CLOSED: MemberStatus.CLOSED,
}
_STATUS_ENUM = {v: k for k, v in STATUSES.items()}
PURPOSES = {
    res.VERIFICATION_PURPOSE_REGISTER: Purpose.REGISTER,
    res.VERIFICATION_PURPOSE_SIGN_IN: Purpose.SIGN_IN,
    res.VERIFICATION_PURPOSE_CLOSE_MEMBER: Purpose.CLOSE_MEMBER,
}
CLIENT_KINDS = {res.CLIENT_KIND_OPERATOR: "operator", res.CLIENT_KIND_SERVICE: "service"}
_CLIENT_KIND_ENUM = {v: k for k, v in CLIENT_KINDS.items()}


def profile(p: res.Profile) -> Profile:
    """A request's profile, validated before: trimmed, the gender and birthday parsed."""
    return Profile(
        nickname=p.nickname.strip(),
        gender=GENDERS.get(p.gender, ""),
        birthday=dt.date.fromisoformat(p.birthday) if p.birthday else None,
        region=p.region.strip(),
    )


def member(row: MemberRow, vault: Vault) -> res.Member:
    legal = ""
    if row.legal_name_enc:
        legal = contact.mask_name(vault.decrypt(row.legal_name_enc, row.member_id.bytes))
    p = row.profile
    return res.Member(
        member_id=str(row.member_id),
        phone=contact.mask_phone(row.phone) if row.phone else "",
        email=contact.mask_email(row.email) if row.email else "",
        status=_STATUS_ENUM[row.status],
        profile=res.Profile(
            nickname=p.nickname,
            gender=_GENDER_ENUM.get(p.gender, res.GENDER_UNSPECIFIED),
            birthday=p.birthday.isoformat() if p.birthday else "",
            region=p.region,
        ),
        tags=row.tags,
        referral_code=row.referral_code,
        referred_by=str(row.referred_by) if row.referred_by else "",
        verified=row.verified_at is not None,
        masked_id_number=row.id_number_masked or "",
        legal_name_masked=legal,
        linked_accounts=[
            res.LinkedAccount(provider=a.provider, subject=a.subject) for a in row.linked
        ],
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )


def token_pair(tokens: Tokens) -> res.TokenPair:
    return res.TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_type="Bearer",
        access_expire_time=timestamps.to_proto(tokens.access_expires),
        refresh_expire_time=timestamps.to_proto(tokens.refresh_expires),
    )


def client(row: ClientRow) -> res.Client:
    """A client as the contract shows it: never its secret (hash)."""
    return res.Client(
        client_id=row.client_id,
        kind=_CLIENT_KIND_ENUM[row.kind],
        scopes=row.scopes,
        roles=row.roles,
        display_name=row.display_name,
        disabled=row.disabled,
        create_time=timestamps.to_proto(row.created_at),
        disable_time=timestamps.to_proto(row.disabled_at),
    )
