"""components/schemas: the JSON Schema of the proto3 JSON form of messages, enums and fields."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor

from tools.asyncapi.protos import Comments

REF = "#/components/schemas/"

_F = descriptor.FieldDescriptor
_INT64 = {"type": "string", "pattern": "^-?[0-9]+$"}
_UINT64 = {"type": "string", "pattern": "^[0-9]+$"}
_INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
_SCALARS: dict[int, dict[str, Any]] = {
    _F.TYPE_INT64: _INT64,
    _F.TYPE_SINT64: _INT64,
    _F.TYPE_SFIXED64: _INT64,
    _F.TYPE_UINT64: _UINT64,
    _F.TYPE_FIXED64: _UINT64,
    _F.TYPE_INT32: _INT32,
    _F.TYPE_SINT32: _INT32,
    _F.TYPE_SFIXED32: _INT32,
    _F.TYPE_UINT32: _UINT32,
    _F.TYPE_FIXED32: _UINT32,
    _F.TYPE_FLOAT: {"type": "number"},
    _F.TYPE_DOUBLE: {"type": "number"},
    _F.TYPE_BOOL: {"type": "boolean"},
    _F.TYPE_STRING: {"type": "string"},
    _F.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
# Well-known types have their own JSON forms; they are inlined, not referenced.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Value": {},
}
# proto3 JSON writes a wrapper as the value it wraps.
_WRAPPERS = {
    f"google.protobuf.{kind}Value"
    for kind in ("Int64", "UInt64", "Int32", "UInt32", "Float", "Double", "Bool", "String", "Bytes")
}


class Schemas:
    """components/schemas: one JSON Schema per proto message or enum, by full name."""

    def __init__(self, comments: Comments) -> None:
        self.comments = comments
        self.schemas: dict[str, dict | None] = {}

    def ref(self, desc: descriptor.Descriptor | descriptor.EnumDescriptor) -> dict:
        if desc.full_name not in self.schemas:
            self.schemas[desc.full_name] = None  # a recursive message refers to itself
            if isinstance(desc, descriptor.EnumDescriptor):
                self.schemas[desc.full_name] = self._enum(desc)
            else:
                self.schemas[desc.full_name] = self._message(desc)
        return {"$ref": REF + desc.full_name}

    def _message(self, message: descriptor.Descriptor) -> dict:
        properties = {field.json_name: self._field(field) for field in message.fields}
        return {
            "type": "object",
            "description": self.comments.of(message.full_name) or message.name,
            "properties": properties,
        }

    def _enum(self, enum: descriptor.EnumDescriptor) -> dict:
        lines = [self.comments.of(enum.full_name) or enum.name, ""]
        for value in enum.values:
            text = " ".join(self.comments.of(f"{enum.full_name}.{value.name}").split())
            lines.append(f"- `{value.name}`" + (f": {text}" if text else ""))
        return {
            "type": "string",
            "description": "\n".join(lines),
            "enum": [value.name for value in enum.values],
        }

    def _field(self, field: descriptor.FieldDescriptor) -> dict:
        text = self.comments.of(field.full_name)
        oneof = field.containing_oneof
        if oneof is not None and not _synthetic(oneof):
            others = ", ".join(f"`{f.json_name}`" for f in oneof.fields)
            text = f"{text}\n\nAt most one of {others} is set (oneof `{oneof.name}`).".strip()
        if _is_map(field):
            value = _message(field).fields_by_name["value"]
            schema = {"type": "object", "additionalProperties": self._value(value)}
        elif field.is_repeated:
            schema = {"type": "array", "items": self._value(field)}
        else:
            base = self._value(field)
            schema = {"allOf": [base]} if "$ref" in base else dict(base)
            if not field.has_presence:  # omitted from the JSON when it holds the default
                schema["default"] = _default(field)
        if text:
            schema["description"] = text
        return schema

    def _value(self, field: descriptor.FieldDescriptor) -> dict:
        if field.type == _F.TYPE_ENUM:
            return self.ref(_enum(field))
        if field.type == _F.TYPE_MESSAGE:
            name = _message(field).full_name
            if name in _WELL_KNOWN:
                return dict(_WELL_KNOWN[name])
            if name in _WRAPPERS:
                return dict(_SCALARS[_message(field).fields_by_name["value"].type])
            if name.startswith("google.protobuf."):
                raise SystemExit(f"{field.full_name}: no JSON Schema mapping for {name}")
            return self.ref(_message(field))
        if field.type not in _SCALARS:
            raise SystemExit(f"{field.full_name}: unsupported field type {field.type}")
        return dict(_SCALARS[field.type])


def _message(field: descriptor.FieldDescriptor) -> descriptor.Descriptor:
    assert field.message_type is not None  # called for message fields only
    return field.message_type


def _enum(field: descriptor.FieldDescriptor) -> descriptor.EnumDescriptor:
    assert field.enum_type is not None  # called for enum fields only
    return field.enum_type


def _synthetic(oneof: descriptor.OneofDescriptor) -> bool:
    """The oneof protoc makes for a proto3 `optional` field."""
    return len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}"


def _is_map(field: descriptor.FieldDescriptor) -> bool:
    return (
        field.is_repeated
        and field.type == _F.TYPE_MESSAGE
        and _message(field).GetOptions().map_entry
    )


def _default(field: descriptor.FieldDescriptor):
    if field.type == _F.TYPE_ENUM:
        return _enum(field).values_by_number[0].name
    base = _SCALARS[field.type]
    if base.get("pattern"):
        return "0"
    return {"integer": 0, "number": 0, "boolean": False, "string": ""}[base["type"]]
