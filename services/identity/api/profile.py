"""GetMember, UpdateProfile, VerifyRealName."""

from __future__ import annotations

import datetime as dt

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from services.kit.errors import Violations

from ..deps import IdentityDeps
from ..domain import id_number
from ..domain import member as rules
from ..usecases import members
from ..usecases import profile as usecase
from . import checks, convert, scopes
from .replies import changed_member


def check_profile(v: Violations, profile: res.Profile, paths: set[str], today: dt.date) -> None:
    """The profile fields named in `paths`; registration checks them all."""
    if "nickname" in paths:
        v.text("profile.nickname", profile.nickname, maximum=rules.NICKNAME_MAX, required=False)
    if "region" in paths:
        v.text("profile.region", profile.region, maximum=rules.REGION_MAX, required=False)
    if "birthday" in paths:
        problem = rules.birthday_problem(profile.birthday, today)
        if problem:
            v.add("profile.birthday", problem)
    if "gender" in paths and profile.gender not in convert.GENDERS:
        v.add("profile.gender", "unknown gender")


async def get_member(deps: IdentityDeps, request: pb.GetMemberRequest) -> pb.GetMemberResponse:
    member_id = checks.member_target(request.member_id, scopes.READ)
    row = await members.get(deps, member_id)
    return pb.GetMemberResponse(member=convert.member(row, deps.vault))


# Each profile field, with or without `profile.`: a longer mask is refused before it is read.
MAX_MASK_PATHS = 2 * len(rules.PROFILE_FIELDS)


def _paths(request: pb.UpdateProfileRequest) -> list[str]:
    """The fields to write (AIP-134)."""
    mask = [path.removeprefix("profile.") for path in request.update_mask.paths]
    if not mask:  # no mask: the fields the request sets
        return [name for name in rules.PROFILE_FIELDS if getattr(request.profile, name)]
    if mask == ["*"]:  # full replacement: fields left empty are cleared
        return list(rules.PROFILE_FIELDS)
    return mask


async def update_profile(
    deps: IdentityDeps, request: pb.UpdateProfileRequest
) -> pb.UpdateProfileResponse:
    member_id = checks.member_target(request.member_id, scopes.WRITE)
    checks.at_most("update_mask", request.update_mask.paths, MAX_MASK_PATHS)
    v = Violations()
    paths = _paths(request)
    for path in paths:
        v.check(path in rules.PROFILE_FIELDS, "update_mask", f"unknown field '{path}'")
    check_profile(v, request.profile, set(paths), deps.now().date())
    v.raise_if_any()
    values = convert.profile(request.profile)
    wanted = {name: getattr(values, name) for name in dict.fromkeys(paths)}
    return await changed_member(
        deps,
        request,
        pb.UpdateProfileResponse,
        lambda conn: usecase.update_profile(deps, conn, member_id, wanted),
    )


async def verify_real_name(
    deps: IdentityDeps, request: pb.VerifyRealNameRequest, source: str
) -> pb.VerifyRealNameResponse:
    member_id = checks.member_target(request.member_id, scopes.WRITE)
    v = Violations()
    checks.request_id(v, request.request_id)
    legal_name = request.legal_name.strip()
    v.text("legal_name", legal_name, maximum=64)
    # Bounded before it is normalised: NFKC of a long string costs time in proportion.
    number = id_number.normalize(request.id_number[:256])
    problem = id_number.problem(number)
    if problem:
        v.add("id_number", problem)
    v.raise_if_any("ID_NUMBER_INVALID" if problem else "INVALID_ARGUMENT")
    await usecase.check_real_name(deps, member_id, legal_name, number, source)
    return await changed_member(
        deps,
        request,
        pb.VerifyRealNameResponse,
        lambda conn: usecase.verify_real_name(deps, conn, member_id, legal_name, number),
    )
