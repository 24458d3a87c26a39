"""What a member declares (profile) and what it proves (real name)."""

from __future__ import annotations

import uuid

from loyalty.identity.v1 import events_pb2 as ev
from services.kit import errors, timestamps

from ..deps import IdentityDeps
from ..domain import id_number
from ..domain import member as rules
from ..store import members
from ..store.members import MemberRow
from .members import changed, open_for_change


async def update_profile(
    deps: IdentityDeps, conn, member_id: uuid.UUID, wanted: dict[str, object]
) -> MemberRow:
    """`wanted` maps profile fields to their new values; only real changes are written."""
    row = await open_for_change(conn, member_id)
    changes = rules.profile_changes(row.profile, wanted)
    if not changes:
        return row
    await members.update_profile(conn, member_id, changes)
    event = ev.MemberProfileUpdated(
        member_id=str(member_id),
        changed_fields=list(changes),
        updated_time=timestamps.to_proto(deps.now()),
        filled_fields=row.profile.filled_fields(changes),
    )
    return await changed(
        deps, conn, member_id, "member.update_profile", event, fields=list(changes)
    )


async def check_real_name(
    deps: IdentityDeps, member_id: uuid.UUID, legal_name: str, number: str, source: str
) -> None:
    """Asks the verifier, before any transaction opens (it may be a remote service), unless
    the member is verified already, closed or unknown: then nothing is asked or counted, and
    `verify_real_name` refuses (or a replay answers). Attempts that reach the verifier are
    limited per member and per caller."""
    async with deps.pool.acquire() as conn:
        row = await members.get(conn, member_id)
    if row is None or row.verified_at is not None or not rules.is_open(row.status):
        return
    limits = deps.limits
    await deps.limiter.take(
        (limits.real_name_member, f"member:{member_id}"),
        (limits.real_name_source, deps.pseudonym("source", source)),
    )
    if await deps.real_name.problem(legal_name, number):
        raise errors.failed_precondition(
            "REAL_NAME_REJECTED", "the name and ID number did not verify"
        )


async def verify_real_name(
    deps: IdentityDeps, conn, member_id: uuid.UUID, legal_name: str, number: str
) -> MemberRow:
    """Stores a checked name and number (see check_real_name), encrypted and bound to the
    member; a member verifies once, and a number verifies one member."""
    row = await open_for_change(conn, member_id)
    if row.verified_at is not None:
        raise errors.failed_precondition("ALREADY_VERIFIED", "the member is verified")
    vault = deps.vault
    try:
        await members.set_verification(
            conn,
            member_id,
            legal_name_enc=vault.encrypt(legal_name, member_id.bytes),
            id_number_enc=vault.encrypt(number, member_id.bytes),
            id_number_hash=vault.lookup_hash(number),
            id_number_masked=id_number.mask(number),
        )
    except members.IdNumberTaken as exc:
        raise errors.already_exists(
            "ID_NUMBER_ALREADY_USED", "this ID number already verifies another account"
        ) from exc
    event = ev.MemberVerified(
        member_id=str(member_id), verified_time=timestamps.to_proto(deps.now())
    )
    return await changed(deps, conn, member_id, "member.verify", event)
