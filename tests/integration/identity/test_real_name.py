"""Real-name verification: masked in responses, ciphertext at rest, one number one member."""

from __future__ import annotations

import grpc

from loyalty.identity.v1 import identity_service_pb2 as pb
from tests.support import idnum
from tests.support.ids import uid

from .helpers import VERIFIED, fails, member_row, outbox_types, register, snapshot

LEGAL_NAME = "张三丰"


def verify(member, number, legal_name=LEGAL_NAME, request_id=None):
    return pb.VerifyRealNameRequest(
        request_id=request_id or uid(),
        member_id=member.member_id,
        legal_name=legal_name,
        id_number=number,
    )


async def test_verification_stores_ciphertext_returns_masks_and_publishes(
    identity, identity_app, tap
):
    member = await register(identity)
    number = idnum.make(1, birthday="19850612")
    response = await identity.VerifyRealName(verify(member, number), metadata=member.auth)
    got = response.member
    assert got.verified
    assert got.masked_id_number == number[:4] + "*" * 10 + number[-4:]
    assert got.legal_name_masked == "张**"
    assert number not in str(response) and "19850612" not in str(response)
    assert LEGAL_NAME not in str(response)

    row = await member_row(identity_app.pool, member.member_id)
    assert row["verified_at"] is not None
    assert row["id_number_masked"] == got.masked_id_number
    for column in ("id_number_enc", "legal_name_enc", "id_number_hash"):
        blob = bytes(row[column])
        assert number.encode() not in blob and LEGAL_NAME.encode() not in blob, column
        assert b"19850612" not in blob, column
    assert identity_app.vault.decrypt(row["id_number_enc"], member.uuid.bytes) == number
    assert identity_app.vault.decrypt(row["legal_name_enc"], member.uuid.bytes) == LEGAL_NAME
    assert bytes(row["id_number_hash"]) == identity_app.vault.lookup_hash(number)
    # The number appears in clear nowhere in the database.
    for table in ("members", "audit_log", "outbox", "idempotency"):
        rows = await identity_app.pool.fetch(f"SELECT * FROM {table}")
        dump = repr([dict(r) for r in rows])
        assert number not in dump and LEGAL_NAME not in dump, table
        assert all(
            number.encode() not in bytes(v)
            for r in rows
            for v in r.values()
            if isinstance(v, bytes)
        ), table

    (event,) = await tap.wait_for(VERIFIED, member.member_id)
    assert event.data["memberId"] == member.member_id
    assert number not in repr(event.data)

    again = await identity.GetMember(
        pb.GetMemberRequest(member_id=member.member_id), metadata=member.auth
    )
    assert again.member.masked_id_number == got.masked_id_number and again.member.verified


async def test_lower_case_x_and_spaces_are_normalised(identity, identity_app):
    member = await register(identity)
    number = next(idnum.make(s) for s in range(1000) if idnum.make(s).endswith("X"))
    await identity.VerifyRealName(verify(member, f" {number.lower()} "), metadata=member.auth)
    row = await member_row(identity_app.pool, member.member_id)
    assert bytes(row["id_number_hash"]) == identity_app.vault.lookup_hash(number)


async def test_bad_check_character_is_id_number_invalid_and_changes_nothing(identity, identity_app):
    member = await register(identity)
    good = idnum.make(2)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    before = await snapshot(identity_app.pool)
    for number in (bad, good[:17], good + "1", idnum.make(2, birthday="19900230"), ""):
        await fails(
            identity.VerifyRealName(verify(member, number), metadata=member.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ID_NUMBER_INVALID",
            ["id_number"],
        )
    assert await snapshot(identity_app.pool) == before


async def test_empty_or_oversized_legal_name_is_invalid_and_changes_nothing(identity, identity_app):
    member = await register(identity)
    before = await snapshot(identity_app.pool)
    for name in ("", "   ", "名" * 1000):
        await fails(
            identity.VerifyRealName(
                verify(member, idnum.make(3), legal_name=name), metadata=member.auth
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["legal_name"],
        )
    assert await snapshot(identity_app.pool) == before


async def test_one_id_number_verifies_one_member(identity, identity_app):
    first, second = await register(identity), await register(identity)
    number = idnum.make(4)
    await identity.VerifyRealName(verify(first, number), metadata=first.auth)
    before = await snapshot(identity_app.pool)
    await fails(
        identity.VerifyRealName(verify(second, number, legal_name="李四"), metadata=second.auth),
        grpc.StatusCode.ALREADY_EXISTS,
        "ID_NUMBER_ALREADY_USED",
    )
    assert await snapshot(identity_app.pool) == before
    assert not (await member_row(identity_app.pool, second.member_id))["verified_at"]


async def test_the_same_number_written_differently_is_still_the_same_number(identity, identity_app):
    first, second = await register(identity), await register(identity)
    number = next(idnum.make(s) for s in range(1000) if idnum.make(s).endswith("X"))
    await identity.VerifyRealName(verify(first, number), metadata=first.auth)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    arabic_indic = "".join(chr(0x0660 + int(c)) for c in number[:17]) + number[17]
    for variant in (number.lower(), full_width, arabic_indic):
        before = await snapshot(identity_app.pool)
        failure = await fails(
            identity.VerifyRealName(verify(second, variant), metadata=second.auth),
            grpc.StatusCode.ALREADY_EXISTS
            if variant != arabic_indic
            else grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert failure.reason in ("ID_NUMBER_ALREADY_USED", "ID_NUMBER_INVALID")
        assert await snapshot(identity_app.pool) == before
    assert not (await member_row(identity_app.pool, second.member_id))["verified_at"]


async def test_second_verification_is_already_verified(identity, identity_app):
    member = await register(identity)
    await identity.VerifyRealName(verify(member, idnum.make(5)), metadata=member.auth)
    before = await snapshot(identity_app.pool)
    for number in (idnum.make(5), idnum.make(6)):
        await fails(
            identity.VerifyRealName(verify(member, number), metadata=member.auth),
            grpc.StatusCode.FAILED_PRECONDITION,
            "ALREADY_VERIFIED",
        )
    assert await snapshot(identity_app.pool) == before
    assert (await outbox_types(identity_app.pool, member.member_id)).count(VERIFIED) == 1


async def test_replay_of_a_verification_returns_the_first_response(identity, identity_app):
    member = await register(identity)
    request = verify(member, idnum.make(8))
    first = await identity.VerifyRealName(request, metadata=member.auth)
    assert await identity.VerifyRealName(request, metadata=member.auth) == first
    assert (await outbox_types(identity_app.pool, member.member_id)).count(VERIFIED) == 1
