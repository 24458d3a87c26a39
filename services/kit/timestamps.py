"""UTC datetimes ⇄ google.protobuf.Timestamp."""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from . import errors


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def to_proto(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


# What a Timestamp may hold to be a time at all (RFC 3339: years 1 to 9999), as the proto's own
# comment says; anything else on the wire is a caller's (or publisher's) mistake, not a crash.
_MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


def field(
    violations: errors.Violations, message: Message, name: str, field_path: str | None = None
) -> dt.datetime | None:
    """The UTC datetime in the Timestamp field `name` of a request or event (None when unset);
    a value no datetime can hold is a violation of `field_path` (default: `name`)."""
    if not message.HasField(name):
        return None
    stamp = getattr(message, name)
    if not (_MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS and 0 <= stamp.nanos < 10**9):
        violations.add(field_path or name, "must be a time between the years 1 and 9999")
        return None
    return stamp.ToDatetime(dt.UTC)
