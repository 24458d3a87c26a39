"""The events.proto files: their descriptors from gen/ and their comments from proto/."""

from __future__ import annotations

import importlib
import importlib.resources
import tempfile
from pathlib import Path

from google.protobuf import descriptor, descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"


def event_files() -> list[str]:
    """`loyalty/<svc>/v1/events.proto` of every service, relative to proto/; commerce last."""
    names = [p.relative_to(PROTO).as_posix() for p in PROTO.glob("loyalty/*/v1/events.proto")]
    return sorted(names, key=lambda name: (name.startswith("loyalty/commerce/"), name))


def _descriptor_set(files: list[str]) -> descriptor_pb2.FileDescriptorSet:
    """The files and their imports as protoc sees them, with comments (source info)."""
    from grpc_tools import protoc

    includes = str(importlib.resources.files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.binpb"
        code = protoc.main(
            [
                "protoc",
                f"-I{PROTO}",
                f"-I{includes}",
                "--include_source_info",
                "--include_imports",
                f"--descriptor_set_out={out}",
                *files,
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed ({code}) on {', '.join(files)}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _without_source_info(file: descriptor_pb2.FileDescriptorProto):
    """The file as the generated Python module embeds it: no source info, no json_name."""
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file)
    copy.ClearField("source_code_info")

    def strip(message: descriptor_pb2.DescriptorProto) -> None:
        for field in message.field:
            field.ClearField("json_name")
        for nested in message.nested_type:
            strip(nested)

    for message in copy.message_type:
        strip(message)
    return copy


def load() -> tuple[list[descriptor.FileDescriptor], Comments]:
    """The events.proto files from gen/ and their comments from proto/; both must agree."""
    files = event_files()
    if not files:
        raise SystemExit(f"no events.proto under {PROTO}")
    comments = Comments(_descriptor_set(files))
    modules = []
    for name in files:
        module = importlib.import_module(name.removesuffix(".proto").replace("/", ".") + "_pb2")
        modules.append(module.DESCRIPTOR)
    for file in _loyalty_files(modules):
        generated = descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb)
        if comments.files.get(file.name) is None or generated != _without_source_info(
            comments.files[file.name]
        ):
            raise SystemExit(f"gen/ is older than proto/{file.name}: run `make proto`")
    return modules, comments


def _loyalty_files(roots: list[descriptor.FileDescriptor]) -> list[descriptor.FileDescriptor]:
    seen: dict[str, descriptor.FileDescriptor] = {}
    todo = list(roots)
    while todo:
        file = todo.pop()
        if file.name.startswith("loyalty/") and file.name not in seen:
            seen[file.name] = file
            todo.extend(file.dependencies)
    return [seen[name] for name in sorted(seen)]


class Comments:
    """Leading comments by element: `pkg.Message`, `pkg.Message.field`, `pkg.Enum.VALUE`."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self.files = {file.name: file for file in fds.file}
        self._by_name: dict[str, str] = {}
        self._by_file: dict[str, str] = {}
        for file in fds.file:
            at = {
                tuple(loc.path): loc.leading_comments
                or "\n\n".join(loc.leading_detached_comments)
                or loc.trailing_comments
                for loc in file.source_code_info.location
            }
            self._by_file[file.name] = _clean(at.get((12,), ""))  # the comment above `syntax`
            for i, message in enumerate(file.message_type):
                self._message(at, (4, i), f"{file.package}.{message.name}", message)
            for i, enum in enumerate(file.enum_type):
                self._enum(at, (5, i), f"{file.package}.{enum.name}", enum)

    def _message(self, at, path, name, message: descriptor_pb2.DescriptorProto) -> None:
        self._by_name[name] = _clean(at.get(path, ""))
        for j, field in enumerate(message.field):
            self._by_name[f"{name}.{field.name}"] = _clean(at.get((*path, 2, j), ""))
        for k, nested in enumerate(message.nested_type):
            self._message(at, (*path, 3, k), f"{name}.{nested.name}", nested)
        for k, enum in enumerate(message.enum_type):
            self._enum(at, (*path, 4, k), f"{name}.{enum.name}", enum)

    def _enum(self, at, path, name, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        self._by_name[name] = _clean(at.get(path, ""))
        for j, value in enumerate(enum.value):
            self._by_name[f"{name}.{value.name}"] = _clean(at.get((*path, 2, j), ""))

    def of(self, name: str) -> str:
        return self._by_name.get(name, "")

    def of_file(self, name: str) -> str:
        return self._by_file.get(name, "")


def _clean(comment: str) -> str:
    """`// text` comment lines as protoc hands them over (" text\\n") → plain text."""
    lines = [line[1:] if line.startswith(" ") else line for line in comment.split("\n")]
    return "\n".join(line.rstrip() for line in lines).strip("\n")
