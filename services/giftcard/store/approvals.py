"""Approval policies (versioned, per subject) and the approvals given for a request."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from ..domain.approvals import Approval, ApprovalPolicy, Band, Role


@dataclass(frozen=True)
class StoredPolicy:
    subject: str
    version: int
    currency_code: str
    policy: ApprovalPolicy
    updated_by: str
    effective_time: dt.datetime


@dataclass(frozen=True)
class Given:
    approval: Approval
    note: str
    approve_time: dt.datetime


def _bands(raw: str | list) -> tuple[Band, ...]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(Band(b["max_amount_minor"], frozenset(Role(r) for r in b["roles"])) for b in items)


def bands_json(policy: ApprovalPolicy) -> str:
    return json.dumps(
        [
            {"max_amount_minor": b.up_to_minor, "roles": sorted(r.value for r in b.roles)}
            for b in policy.bands
        ]
    )


def _stored(row) -> StoredPolicy | None:
    if row is None:
        return None
    return StoredPolicy(
        row["subject"],
        row["version"],
        row["currency_code"],
        ApprovalPolicy(_bands(row["bands"])),
        row["updated_by"],
        row["effective_time"],
    )


_POLICY = "SELECT subject, version, currency_code, bands, updated_by, effective_time"


async def current(conn, subject: str) -> StoredPolicy | None:
    row = await conn.fetchrow(
        f"{_POLICY} FROM approval_policies WHERE subject = $1 ORDER BY version DESC LIMIT 1",
        subject,
    )
    return _stored(row)


async def version(conn, subject: str, number: int) -> StoredPolicy | None:
    row = await conn.fetchrow(
        f"{_POLICY} FROM approval_policies WHERE subject = $1 AND version = $2", subject, number
    )
    return _stored(row)


async def add_version(
    conn, subject: str, currency_code: str, policy: ApprovalPolicy, updated_by: str, now
) -> StoredPolicy:
    """The next version (two concurrent saves: one fails on the key and is retried by its
    caller's request id)."""
    row = await conn.fetchrow(
        "INSERT INTO approval_policies (subject, version, currency_code, bands, updated_by,"
        " effective_time) SELECT $1, coalesce(max(version), 0) + 1, $2, $3::jsonb, $4, $5"
        " FROM approval_policies WHERE subject = $1"
        " RETURNING subject, version, currency_code, bands, updated_by, effective_time",
        subject,
        currency_code,
        bands_json(policy),
        updated_by,
        now,
    )
    stored = _stored(row)
    assert stored is not None
    return stored


async def given(conn, subject: str, subject_id: uuid.UUID) -> list[Given]:
    rows = await conn.fetch(
        "SELECT approver, role, note, approve_time FROM approvals"
        " WHERE subject = $1 AND subject_id = $2 ORDER BY approve_time, approver",
        subject,
        subject_id,
    )
    return [
        Given(Approval(r["approver"], Role(r["role"])), r["note"], r["approve_time"]) for r in rows
    ]


async def record(
    conn, subject: str, subject_id: uuid.UUID, approval: Approval, note: str, now
) -> None:
    await conn.execute(
        "INSERT INTO approvals (subject, subject_id, approver, role, note, approve_time)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        subject,
        subject_id,
        approval.approver,
        approval.role.value,
        note,
        now,
    )
