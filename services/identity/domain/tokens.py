"""Refresh tokens: single use, in families descending from one sign-in."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from .member import MemberStatus, is_open


@dataclass(frozen=True)
class RefreshToken:
    """A stored refresh token and the status of the member it belongs to."""

    token_id: uuid.UUID
    family_id: uuid.UUID
    member_id: uuid.UUID
    expires_at: dt.datetime
    used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    member_status: MemberStatus


class Refresh(enum.Enum):
    ROTATE = "rotate"  # use this token up and issue the next of its family
    REUSED = "reused"  # end the whole family
    INVALID = "invalid"


def on_refresh(token: RefreshToken | None, now: dt.datetime) -> Refresh:
    """What presenting `token` does. A token that was used already came back: it was stolen or
    replayed, so no token of its family may be trusted any more."""
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= now
        or not is_open(token.member_status)
    ):
        return Refresh.INVALID
    if token.used_at is not None:
        return Refresh.REUSED
    return Refresh.ROTATE
