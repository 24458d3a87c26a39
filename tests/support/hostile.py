"""Hostile requests built from a request's proto descriptor: NUL and control characters, huge and
negative numbers, unknown enum values, odd page tokens, bad UUIDs, timestamps out of range,
oversized repeated fields. Any RPC of any service can be fed them without a line written for it."""

from __future__ import annotations

import base64
import json

from google.protobuf import descriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

_F = descriptor.FieldDescriptor


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "nul\x00inside",
        "\x01\x1b[31m\x7f",
        "line\nbreak",
        "x" * 100_000,
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        "0193a5c4-5b1e-7c2a-9d3e-2f1a0b9c8d7e",
        "13800000000",
        "a@b.c",
        "*",
        "'; DROP TABLE members; --",
        "%s%s%n",
        "\u202e\u4e2d\u6587",
        _token({"after": 123}),
        _token({"after": "x", "query": {}}),
        _token({"after": 2**70, "query": {}}),
        _token({"after": [[[[[[[[[[]]]]]]]]]], "query": {}}),
        "[" * 10_000,
        "!!!not base64!!!",
    ]
)


def _ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
    top = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    low = -(2 ** (bits - 1)) if signed else 0
    return st.sampled_from(sorted({0, 1, low, top, top // 2 + 1, min(-1, low) if signed else 0}))


_SCALARS = {
    _F.TYPE_STRING: STRINGS,
    _F.TYPE_BYTES: st.sampled_from([b"", b"\x00" * 64, b"\xff\xfe"]),
    _F.TYPE_BOOL: st.booleans(),
    _F.TYPE_INT32: _ints(32, True),
    _F.TYPE_SINT32: _ints(32, True),
    _F.TYPE_SFIXED32: _ints(32, True),
    _F.TYPE_INT64: _ints(64, True),
    _F.TYPE_SINT64: _ints(64, True),
    _F.TYPE_SFIXED64: _ints(64, True),
    _F.TYPE_UINT32: _ints(32, False),
    _F.TYPE_FIXED32: _ints(32, False),
    _F.TYPE_UINT64: _ints(64, False),
    _F.TYPE_FIXED64: _ints(64, False),
    _F.TYPE_DOUBLE: st.sampled_from([0.0, -1.0, 1e308, float("inf"), float("nan")]),
    _F.TYPE_FLOAT: st.sampled_from([0.0, -1.0, 3e38]),
}
# Seconds a Timestamp may hold on the wire, well beyond what a datetime can (years 1 to 9999).
_SECONDS = st.sampled_from([0, -1, 253402300800, -62135596801, 2**62, -(2**62)])


def _value(field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.type == _F.TYPE_ENUM:
        assert field.enum_type is not None
        known = [v.number for v in field.enum_type.values]
        return st.sampled_from([*known, 999, -7])
    if field.type == _F.TYPE_MESSAGE:
        assert field.message_type is not None
        return messages(field.message_type, depth + 1)
    return _SCALARS[field.type]


@st.composite
def _message(draw, desc: descriptor.Descriptor, depth: int) -> dict:
    values: dict = {}
    if desc.full_name == "google.protobuf.Timestamp":
        return {"seconds": draw(_SECONDS), "nanos": draw(st.sampled_from([0, -1, 10**9]))}
    for field in desc.fields:
        if depth > 3 or draw(st.integers(0, 3)) == 0:
            continue  # left unset: a missing field is hostile too
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue  # no request of the suite has a map
        if field.is_repeated:
            item = _value(field, depth)
            many = st.lists(item, max_size=3) | item.map(lambda x: [x] * 10_000)
            values[field.name] = draw(many)
        else:
            values[field.name] = draw(_value(field, depth))
    return values


def messages(desc: descriptor.Descriptor, depth: int = 0) -> st.SearchStrategy[dict]:
    """Field values (by name, nested as dicts) of a message of type `desc`."""
    return _message(desc, depth)


def build(message_class: type[Message], values: dict) -> Message:
    """The message with `values` set; values a field cannot hold on the wire are left out."""
    message = message_class()
    _fill(message, values)
    return message


def _fill(message: Message, values: dict) -> None:
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        try:
            if field.type == _F.TYPE_MESSAGE:
                if field.is_repeated:
                    for item in value:
                        _fill(getattr(message, name).add(), item)
                else:
                    _fill(getattr(message, name), value)
            elif field.is_repeated:
                getattr(message, name).extend(value)
            else:
                setattr(message, name, value)
        except (ValueError, TypeError):
            pass  # protobuf itself refuses it (e.g. an unknown closed enum): no one can send it


# Beneath a flood of a repeated field, lists are cut to this, and text to this many characters.
_UNDER_A_FLOOD = 3
_TEXT_IN_A_FLOOD = 1_000


def one_flood(values: dict, flooded: bool = False) -> dict:
    """`values` with no flood inside a flood. The generator floods any repeated field with
    10,000 copies of one item, nested ones too, and its longest text is 100,000 characters: a
    request nesting repeated messages (growth's rule sets: badges of levels, curves of points)
    would be a flood of floods, 10⁸ messages, and a flood of long texts is a gigabyte. No server
    sees either (its message size limit refuses a request unread past 4 MiB, as it refuses the
    10 MB these become) and the test spent minutes and gigabytes building them. The flood
    nearest the top stays; beneath it, lists and texts are cut short."""
    kept: dict = {}
    for name, value in values.items():
        if isinstance(value, list):
            flood = len(value) > _UNDER_A_FLOOD
            items = value[:_UNDER_A_FLOOD] if flooded else value
            # a flood repeats one item: each distinct item is trimmed once
            trimmed: dict[int, object] = {}
            for item in items:
                if id(item) not in trimmed:
                    trimmed[id(item)] = _trim(item, flooded or flood)
            kept[name] = [trimmed[id(item)] for item in items]
        else:
            kept[name] = _trim(value, flooded)
    return kept


def _trim(value: object, flooded: bool) -> object:
    if isinstance(value, dict):
        return one_flood(value, flooded)
    if flooded and isinstance(value, str):
        return value[:_TEXT_IN_A_FLOOD]
    return value
