"""UTC datetimes ⇄ google.protobuf.Timestamp."""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def to_proto(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp
