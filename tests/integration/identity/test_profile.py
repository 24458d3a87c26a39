"""UpdateProfile with a field mask: what changes in the database and what is published."""

from __future__ import annotations

import datetime as dt

import grpc
from google.protobuf import field_mask_pb2

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support.ids import uid

from .helpers import PROFILE_UPDATED, fails, member_row, outbox_types, register, snapshot

FULL = res.Profile(nickname="lei", gender=res.GENDER_MALE, birthday="1990-03-07", region="CN-BJ")


def update(member, profile, *paths, request_id=None, metadata=None):
    request = pb.UpdateProfileRequest(
        request_id=request_id or uid(), member_id=member.member_id, profile=profile
    )
    if paths:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(paths)))
    return request, metadata or member.auth


async def profile_in_db(identity_app, member) -> tuple:
    row = await member_row(identity_app.pool, member.member_id)
    return row["nickname"], row["gender"], row["birthday"], row["region"]


async def test_masked_fields_change_others_stay_and_an_event_names_them(
    identity, identity_app, tap
):
    member = await register(identity, profile=FULL)
    request, md = update(
        member,
        res.Profile(nickname="lili", birthday="1991-04-08", region="ignored"),
        "nickname",
        "birthday",
    )
    response = await identity.UpdateProfile(request, metadata=md)
    assert response.member.profile == res.Profile(
        nickname="lili", gender=res.GENDER_MALE, birthday="1991-04-08", region="CN-BJ"
    )
    assert await profile_in_db(identity_app, member) == (
        "lili",
        "male",
        dt.date(1991, 4, 8),
        "CN-BJ",
    )
    (event,) = await tap.wait_for(PROFILE_UPDATED, member.member_id)
    assert sorted(event.data["changedFields"]) == ["birthday", "nickname"]
    assert "lili" not in repr(event.data)  # names of fields, never their values
    audit = await identity_app.pool.fetchval(
        "SELECT detail FROM audit_log WHERE action = 'member.update_profile' AND subject = $1",
        member.member_id,
    )
    assert sorted(audit["fields"]) == ["birthday", "nickname"]


async def test_a_masked_field_left_empty_is_cleared(identity, identity_app, tap):
    member = await register(identity, profile=FULL)
    request, md = update(member, res.Profile(), "region", "profile.birthday")
    response = await identity.UpdateProfile(request, metadata=md)
    assert response.member.profile.region == "" and response.member.profile.birthday == ""
    assert await profile_in_db(identity_app, member) == ("lei", "male", None, "")
    (event,) = await tap.wait_for(PROFILE_UPDATED, member.member_id)
    assert sorted(event.data["changedFields"]) == ["birthday", "region"]


async def test_without_a_mask_only_non_empty_fields_are_updated(identity, identity_app, tap):
    member = await register(identity, profile=FULL)
    request, md = update(member, res.Profile(nickname="lili"))
    response = await identity.UpdateProfile(request, metadata=md)
    assert response.member.profile == res.Profile(
        nickname="lili", gender=res.GENDER_MALE, birthday="1990-03-07", region="CN-BJ"
    )
    assert await profile_in_db(identity_app, member) == (
        "lili",
        "male",
        dt.date(1990, 3, 7),
        "CN-BJ",
    )
    (event,) = await tap.wait_for(PROFILE_UPDATED, member.member_id)
    assert event.data["changedFields"] == ["nickname"]
    # What holds a value after the change, changed or not (names only, for growth).
    assert event.data["filledFields"] == ["nickname", "gender", "birthday", "region"]


async def test_star_mask_replaces_the_whole_profile(identity, identity_app, tap):
    member = await register(identity, profile=FULL)
    request, md = update(member, res.Profile(nickname="lili", gender=res.GENDER_FEMALE), "*")
    response = await identity.UpdateProfile(request, metadata=md)
    assert response.member.profile == res.Profile(nickname="lili", gender=res.GENDER_FEMALE)
    assert await profile_in_db(identity_app, member) == ("lili", "female", None, "")
    (event,) = await tap.wait_for(PROFILE_UPDATED, member.member_id)
    assert sorted(event.data["changedFields"]) == ["birthday", "gender", "nickname", "region"]


async def test_an_update_that_changes_nothing_publishes_nothing(identity, identity_app, tap):
    member = await register(identity, profile=FULL)
    same, md = update(member, FULL, "nickname", "gender", "birthday", "region")
    response = await identity.UpdateProfile(same, metadata=md)
    assert response.member.profile == FULL
    assert PROFILE_UPDATED not in await outbox_types(identity_app.pool, member.member_id)
    # A later real change is published alone: the no-op left nothing in the pipeline.
    change, md = update(member, res.Profile(region="CN-SH"), "region")
    await identity.UpdateProfile(change, metadata=md)
    (event,) = await tap.wait_for(PROFILE_UPDATED, member.member_id)
    assert event.data["changedFields"] == ["region"]
    assert await outbox_types(identity_app.pool, member.member_id) == [
        "loyalty.identity.member.registered.v1",
        PROFILE_UPDATED,
    ]


async def test_replay_returns_the_first_response_and_publishes_once(identity, identity_app):
    member = await register(identity, profile=FULL)
    request, md = update(member, res.Profile(nickname="lili"), "nickname")
    first = await identity.UpdateProfile(request, metadata=md)
    second = await identity.UpdateProfile(request, metadata=md)
    assert first == second
    types = await outbox_types(identity_app.pool, member.member_id)
    assert types.count(PROFILE_UPDATED) == 1


async def test_unknown_mask_path_is_invalid_and_changes_nothing(identity, identity_app):
    member = await register(identity, profile=FULL)
    before = await snapshot(identity_app.pool)
    for paths in (["phone"], ["nickname", "email"], ["profile.password"], ["tags"], [""]):
        request, md = update(member, res.Profile(nickname="lili"), *paths)
        await fails(
            identity.UpdateProfile(request, metadata=md),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=["update_mask"],
        )
    assert await snapshot(identity_app.pool) == before


async def test_bad_profile_values_are_invalid_and_change_nothing(identity, identity_app):
    member = await register(identity, profile=FULL)
    before = await snapshot(identity_app.pool)
    cases = [
        (res.Profile(nickname="n" * 65), ["nickname"], ["profile.nickname"]),
        (res.Profile(region="r" * 1000), ["region"], ["profile.region"]),
        (res.Profile(birthday="2999-01-01"), ["birthday"], ["profile.birthday"]),
        (res.Profile(birthday="07/03/1990"), ["birthday"], ["profile.birthday"]),
        (res.Profile(gender=42), ["gender"], ["profile.gender"]),
    ]
    for profile, paths, fields in cases:
        request, md = update(member, profile, *paths)
        await fails(
            identity.UpdateProfile(request, metadata=md),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=fields,
        )
    assert await snapshot(identity_app.pool) == before


async def test_operator_with_write_scope_updates_a_profile(identity, identity_app, mint):
    member = await register(identity, login=False, profile=FULL)
    request, md = update(
        member,
        res.Profile(nickname="desk-fixed"),
        "nickname",
        metadata=mint("desk-1", "operator", ["identity:write"]),
    )
    await identity.UpdateProfile(request, metadata=md)
    assert (await profile_in_db(identity_app, member))[0] == "desk-fixed"
    actor = await identity_app.pool.fetchval(
        "SELECT actor FROM audit_log WHERE action = 'member.update_profile'"
    )
    assert actor == "operator:desk-1"


async def test_changed_fields_name_only_what_changed(identity, identity_app, tap):
    member = await register(identity, profile=FULL)
    request, md = update(member, res.Profile(nickname="lili", region="CN-BJ"), "nickname", "region")
    await identity.UpdateProfile(request, metadata=md)
    (event,) = await tap.wait_for(PROFILE_UPDATED, member.member_id)
    assert event.data["changedFields"] == ["nickname"]


async def test_an_empty_update_without_mask_keeps_the_profile(identity, identity_app):
    member = await register(identity, profile=FULL)
    before = await profile_in_db(identity_app, member)
    request, md = update(member, res.Profile())
    response = await identity.UpdateProfile(request, metadata=md)
    assert response.member.profile == FULL
    assert await profile_in_db(identity_app, member) == before
    assert PROFILE_UPDATED not in await outbox_types(identity_app.pool, member.member_id)
