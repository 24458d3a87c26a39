"""The AsyncAPI 3.0 document of every event, generated from the events.proto descriptors.

    PYTHONPATH=.:gen .venv/bin/python -m tools.asyncapi          # (re)write docs/asyncapi.yaml
    PYTHONPATH=.:gen .venv/bin/python -m tools.asyncapi --check  # exit 1 if it is stale

Every message of every `proto/loyalty/<svc>/v1/events.proto` is either an event, whose comment
names its type ("Type `loyalty.identity.member.registered.v1`."), or a part of one (OrderLine).
An event becomes a channel (address = routing key = CloudEvents type, on the exchange the type
belongs to), an operation and a message whose payload schema is the proto3 JSON form of the proto
message. The structure comes from the generated `*_pb2` modules in gen/ (the code the services
run); the comments come from a descriptor set that protoc builds from proto/ with source info,
and the two must describe the same files, so a stale gen/ is an error rather than a stale
document. Types are checked against the naming rule the services publish with
(`services.kit.events.type_of`), exchange names are the services' configured defaults.

protos.py loads the descriptors and comments, schemas.py turns messages and enums into JSON
Schema, document.py assembles channels, operations and messages, output.py writes the YAML.
"""

from tools.asyncapi.document import build
from tools.asyncapi.output import OUTPUT, diff, render
from tools.asyncapi.protos import ROOT

__all__ = ["OUTPUT", "ROOT", "build", "diff", "render"]
