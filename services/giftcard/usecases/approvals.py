"""Approvals of requests (batches, requisitions, after-sale): the policy a request was made
under, who approved in which role, and what is still missing. Nobody approves their own
request or approves twice; a role counts only from a token holding it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection

from services.kit import errors

from ..deps import GiftcardDeps
from ..domain import approvals as rules
from ..domain.approvals import Approval, ApprovalPolicy, ApprovalStatus, Role
from ..domain.refusals import FieldProblem, Refusal
from ..store import approvals as store
from ..store.approvals import Given, StoredPolicy

# The policy of each subject until a manager sets one (version 0).
DEFAULTS: dict[str, ApprovalPolicy] = {
    "batch": rules.BATCH_POLICY,
    "requisition": rules.REQUISITION_POLICY,
    "after_sale": rules.AFTER_SALE_POLICY,
}


_SINCE_EVER = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class Approvals:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    def _default(self, subject: str) -> StoredPolicy:
        return StoredPolicy(
            subject,
            0,
            self.deps.settings.currency_code,
            DEFAULTS[subject],
            "default",
            _SINCE_EVER,
        )

    async def policy(self, conn, subject: str) -> StoredPolicy:
        """The policy in effect now (a new request is made under it)."""
        return await store.current(conn, subject) or self._default(subject)

    async def policy_version(self, conn, subject: str, version: int) -> StoredPolicy:
        if version == 0:
            return self._default(subject)
        found = await store.version(conn, subject, version)
        if found is None:  # a request names only versions that were stored
            raise RuntimeError(f"approval policy {subject} v{version} is missing")
        return found

    async def set_policy(
        self, conn, subject: str, currency_code: str, policy: ApprovalPolicy, actor: str
    ) -> StoredPolicy:
        problems = rules.policy_problems(policy)
        if problems:
            raise errors.invalid([("bands", p) for p in problems])
        return await store.add_version(conn, subject, currency_code, policy, actor, self.deps.now())

    async def given(self, conn, subject: str, subject_id: uuid.UUID) -> list[Given]:
        return await store.given(conn, subject, subject_id)

    async def status(
        self,
        conn,
        subject: str,
        subject_id: uuid.UUID,
        amount_minor: int,
        requester: str,
        version: int,
    ) -> ApprovalStatus:
        policy = (await self.policy_version(conn, subject, version)).policy
        so_far = [g.approval for g in await store.given(conn, subject, subject_id)]
        result = rules.status(policy, amount_minor, requester, so_far)
        if isinstance(result, Refusal):
            raise errors.refused(result)
        return result

    async def approve(
        self,
        conn,
        subject: str,
        subject_id: uuid.UUID,
        *,
        amount_minor: int,
        requester: str,
        version: int,
        approver: str,
        held: Collection[Role],
        role: str,
        note: str,
    ) -> ApprovalStatus:
        """Record an approval (the caller holds the request's row lock): `role` is the role
        asked for ("" for the first missing one the approver holds). Refused: the requester,
        a second approval by the same person, a role not held or not (or no longer) needed."""
        policy = (await self.policy_version(conn, subject, version)).policy
        so_far = [g.approval for g in await store.given(conn, subject, subject_id)]
        before = rules.status(policy, amount_minor, requester, so_far)
        if isinstance(before, Refusal):
            raise errors.refused(before)
        chosen = _role(role, before, held)
        if isinstance(chosen, FieldProblem):
            raise errors.invalid_field(chosen)
        candidate = Approval(approver, chosen)
        after = rules.approve(policy, amount_minor, requester, so_far, candidate, held)
        if isinstance(after, Refusal):
            raise errors.refused(after)
        await store.record(conn, subject, subject_id, candidate, note, self.deps.now())
        return after


def _role(asked: str, status: ApprovalStatus, held: Collection[Role]) -> Role | FieldProblem:
    if asked:
        try:
            return Role(asked)
        except ValueError:
            return FieldProblem("role", f"one of {', '.join(r.value for r in Role)}")
    for role in sorted(status.missing):
        if role in held:
            return role
    # Nothing pending the caller holds: name a missing role, so the domain refuses precisely.
    return min(status.missing) if status.missing else min(status.required)
