"""GetApprovalPolicy, SetApprovalPolicy."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors, idempotency
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain import approvals as rules
from ..domain.approvals import ApprovalPolicy, Band, Role
from ..domain.stock import APPROVING_ROLES, MAX_BAND_ROLES, MAX_BANDS
from ..store.approvals import StoredPolicy
from . import access
from .base import Part
from .products import currency

SUBJECTS = {
    res.APPROVAL_SUBJECT_BATCH: "batch",
    res.APPROVAL_SUBJECT_REQUISITION: "requisition",
    res.APPROVAL_SUBJECT_AFTER_SALE: "after_sale",
}
_SUBJECT_ENUM = {name: value for value, name in SUBJECTS.items()}
# The roles a band may require, as scopes.
_BAND_ROLES = {f"giftcard:{r}": r for r in APPROVING_ROLES}


def scope(role: Role) -> str:
    return f"giftcard:{role}"


def policy_proto(stored: StoredPolicy) -> res.ApprovalPolicy:
    default = stored.version == 0
    return res.ApprovalPolicy(
        subject=_SUBJECT_ENUM[stored.subject],
        version=stored.version,
        currency_code=stored.currency_code,
        bands=[
            res.ApprovalBand(
                max_amount_minor=band.up_to_minor or 0,
                required_roles=sorted(scope(r) for r in band.roles),
            )
            for band in stored.policy.bands
        ],
        updated_by="" if default else stored.updated_by,
        effective_time=None if default else to_proto(stored.effective_time),
    )


def _subject(v: Violations, field_path: str, value: int) -> str:
    subject = SUBJECTS.get(value)  # type: ignore[call-overload]
    v.check(subject is not None, field_path, "BATCH, REQUISITION or AFTER_SALE")
    return subject or ""


def _bands(v: Violations, subject: str, bands) -> ApprovalPolicy:
    """The policy the bands describe; every problem a field violation under `policy.bands`."""
    parsed = []
    last_bound = 0
    for i, band in enumerate(bands):
        path = f"policy.bands[{i}]"
        last = i == len(bands) - 1
        bound = band.max_amount_minor
        if last:
            v.check(bound == 0, f"{path}.max_amount_minor", "the last band is unbounded (0)")
        elif bound <= 0:
            v.add(f"{path}.max_amount_minor", "must be positive (0 only on the last band)")
        elif bound <= last_bound:
            v.add(f"{path}.max_amount_minor", "bands ascend: above the band before")
        last_bound = max(last_bound, bound)
        roles: set[Role] = set()
        v.check(len(band.required_roles) > 0, f"{path}.required_roles", "at least one role")
        for j, name in enumerate(band.required_roles):
            role = _BAND_ROLES.get(name)
            if role is None:
                v.add(f"{path}.required_roles[{j}]", f"one of {', '.join(_BAND_ROLES)}")
            elif role in roles:
                v.add(f"{path}.required_roles[{j}]", "a role appears once in a band")
            else:
                roles.add(role)
        if subject == "after_sale" and roles and Role.MANAGER not in roles:
            v.add(f"{path}.required_roles", "an AFTER_SALE band requires giftcard:manager")
        parsed.append(Band(None if last else bound, frozenset(roles)))
    policy = ApprovalPolicy(tuple(parsed))
    if not v.items:
        for problem in rules.policy_problems(policy):
            v.add("policy.bands", problem)
    return policy


class PoliciesApi(Part):
    async def GetApprovalPolicy(
        self, request: pb.GetApprovalPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetApprovalPolicyResponse:
        access.require_any(access.MANAGER, access.APPROVER, access.REQUESTER)
        v = Violations()
        subject = _subject(v, "subject", request.subject)
        version = request.version if request.HasField("version") else None
        v.check(version is None or version >= 0, "version", "must not be negative")
        v.raise_if_any()
        async with self.pool.acquire() as conn:
            current = await self.uc.approvals.policy(conn, subject)
            if version is None or version == current.version:
                stored = current
            elif version > current.version:
                raise errors.not_found("POLICY_VERSION", str(version))
            else:  # versions are 1, 2, … without gaps (0: the built-in default)
                stored = await self.uc.approvals.policy_version(conn, subject, version)
        return pb.GetApprovalPolicyResponse(policy=policy_proto(stored))

    async def SetApprovalPolicy(
        self, request: pb.SetApprovalPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetApprovalPolicyResponse:
        principal = access.require_any(access.MANAGER)
        given = request.policy
        errors.at_most("policy.bands", given.bands, MAX_BANDS, minimum=1)
        for i, band in enumerate(given.bands):
            errors.at_most(f"policy.bands[{i}].required_roles", band.required_roles, MAX_BAND_ROLES)
        v = Violations()
        subject = _subject(v, "policy.subject", given.subject)
        currency(v, "policy.currency_code", given.currency_code)
        policy = _bands(v, subject, given.bands)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.SetApprovalPolicyResponse:
            stored = await self.uc.approvals.set_policy(
                conn, subject, given.currency_code, policy, principal.label
            )
            await access.record(
                conn,
                principal,
                "approval_policy.set",
                subject,
                role=access.MANAGER,
                version=stored.version,
                currency_code=stored.currency_code,
                bands=[
                    {"max_amount_minor": b.up_to_minor, "roles": sorted(b.roles)}
                    for b in policy.bands
                ],
            )
            return pb.SetApprovalPolicyResponse(policy=policy_proto(stored))

        return await idempotency.once(self.pool, request, work)
