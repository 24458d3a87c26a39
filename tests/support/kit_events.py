"""Made-up event messages of a service "kit", so the kit's tests need no real service:
ThingHappened → `loyalty.kit.thing.happened.v1`, ThingRoutable, ThingNowhere."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_NAMES = ("ThingHappened", "ThingRoutable", "ThingNowhere")


def _messages() -> dict[str, type]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="loyalty/kit/v1/kit_test_events.proto", package="loyalty.kit.v1", syntax="proto3"
    )
    for name in _NAMES:
        message = proto.message_type.add(name=name)
        message.field.add(
            name="n",
            json_name="n",
            number=1,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"loyalty.kit.v1.{name}"))
        for name in _NAMES
    }


_CLASSES = _messages()
ThingHappened = _CLASSES["ThingHappened"]
ThingRoutable = _CLASSES["ThingRoutable"]
ThingNowhere = _CLASSES["ThingNowhere"]
