"""Traces (kit.tracing): one trace follows a call from identity's gRPC server through its outbox
and the broker to the consumer in points that the call's event sets in motion, continuing the
caller's traceparent; a malformed traceparent starts a trace of its own; with an OTLP endpoint
set, spans leave the process over OTLP/gRPC under the service's name."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as otlp_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import identity_service_pb2_grpc
from loyalty.identity.v1 import resources_pb2 as res
from services.kit import tracing
from services.points.app import PointsApp
from tests.support import harness, identity_fakes, servers
from tests.support.ids import uid
from tests.support.waiting import wait_until

REGISTERED = "loyalty.identity.member.registered.v1"
REGISTER_METHOD = "loyalty.identity.v1.IdentityService/RegisterMember"


@pytest.fixture(scope="module")
async def points_app(identity_app, amqp):
    """Points on a database and queues of its own: the consumer in another service."""
    async with harness.running(
        PointsApp,
        amqp,
        identity=identity_app,
        schedule=False,
        database_url=servers.database_url("points_tracing"),
    ) as app:
        yield app


@pytest.fixture
def spans(identity_app, points_app):
    """Every span identity and points finish during the test, in memory."""
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    for app in (identity_app, points_app):
        tracing.provider(app.name).add_span_processor(processor)
    yield exporter
    # The providers live as long as the process: a shut exporter keeps nothing more.
    processor.shutdown()


@pytest.fixture
def identity(identity_app):
    return harness.stub(identity_app, identity_service_pb2_grpc.IdentityServiceStub)


async def register(identity, identity_app, metadata=()) -> str:
    """A member registering on the app, proving a phone number of its own."""
    request = pb.RegisterMemberRequest(
        request_id=uid(),
        phone=f"137{secrets.randbelow(10**8):08d}",
        password="s3cret-pass",
        channel=res.REGISTRATION_CHANNEL_APP,
    )
    request = await identity_fakes.proven(identity, identity_app.deps.codes, request)
    return (await identity.RegisterMember(request, metadata=metadata)).member.member_id


def service_of(span: ReadableSpan) -> object:
    return span.resource.attributes["service.name"]


def trace_of(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]


def only(found: list[ReadableSpan], name: str) -> ReadableSpan:
    named = [s for s in found if s.name == name]
    assert len(named) == 1, f"{name}: {[s.name for s in found]}"
    return named[0]


async def test_one_trace_spans_the_call_the_outbox_the_broker_and_the_consumer_in_points(
    identity, identity_app, points_app, spans
):
    trace_id, caller_span = secrets.randbits(128) | 1, secrets.randbits(64) | 1
    traceparent = f"00-{trace_id:032x}-{caller_span:016x}-01"
    queue = points_app.settings.queue_prefix + "points.identity"

    member_id = await register(identity, identity_app, metadata=(("traceparent", traceparent),))

    async def consumed() -> list[ReadableSpan]:
        return [
            s
            for s in trace_of(spans, trace_id)
            if s.attributes.get("messaging.destination.subscription.name") == queue
        ]

    (process,) = await wait_until(consumed, 10, "points' consumer span in the caller's trace")
    found = trace_of(spans, trace_id)
    server = only(found, REGISTER_METHOD)
    create = only(found, f"create {REGISTERED}")
    publish = only(found, f"publish {REGISTERED}")

    # The caller's span is the server span's remote parent.
    assert server.kind == SpanKind.SERVER and service_of(server) == "identity"
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.span_id == caller_span
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.OK.value[0]
    assert server.status.status_code == StatusCode.UNSET
    # The outbox write happens in the call; the relay's publish continues the stored context.
    assert service_of(create) == "identity" and create.parent.span_id == server.context.span_id
    assert publish.kind == SpanKind.PRODUCER and service_of(publish) == "identity"
    assert publish.parent.span_id == create.context.span_id
    assert publish.attributes["messaging.message.id"] == create.attributes["messaging.message.id"]
    # Points' consumer continues the message's traceparent: the publish span's.
    assert process.kind == SpanKind.CONSUMER and service_of(process) == "points"
    assert process.name == f"process {REGISTERED}"
    assert process.parent.is_remote and process.parent.span_id == publish.context.span_id
    assert process.attributes["messaging.message.id"] == publish.attributes["messaging.message.id"]
    assert process.attributes["loyalty.event.duplicate"] is False
    assert process.status.status_code == StatusCode.UNSET
    # The consumer did apply the event: the member is known to points.
    assert await points_app.pool.fetchval(
        "SELECT registered FROM member_accounts WHERE member_id = $1::uuid", member_id
    )


async def test_a_malformed_traceparent_starts_a_trace_of_its_own(identity, identity_app, spans):
    bogus = "00-" + "z" * 32 + "-00f067aa0ba902b7-01"
    await register(identity, identity_app, metadata=(("traceparent", bogus),))

    async def published() -> list[ReadableSpan]:
        return [s for s in spans.get_finished_spans() if s.name == f"publish {REGISTERED}"]

    await wait_until(published, 10, "the relay's publish span")
    servers_ = [s for s in spans.get_finished_spans() if s.name == REGISTER_METHOD]
    (server,) = servers_
    assert server.parent is None  # a root: nothing of the caller's was taken
    found = trace_of(spans, server.context.trace_id)
    assert {s.name for s in found} >= {f"create {REGISTERED}", f"publish {REGISTERED}"}
    for span in found:
        assert "z" * 32 not in repr(dict(span.attributes or {}))


class _Collector(otlp_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver, as an OpenTelemetry collector is one."""

    def __init__(self) -> None:
        self.received: list[otlp.ExportTraceServiceRequest] = []

    async def Export(self, request, context):  # noqa: N802 (the generated name)
        self.received.append(request)
        return otlp.ExportTraceServiceResponse()


async def test_with_an_otlp_endpoint_spans_are_exported_under_the_service_name(monkeypatch):
    collector = _Collector()
    server = grpc.aio.server()
    otlp_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    name = f"tracing-check-{uid()}"  # a provider of its own, made with the endpoint set
    provider = tracing.provider(name)
    try:
        with tracing.span(tracing.tracer(name), "exported", kind=tracing.INTERNAL):
            pass
        # The exporter's client is synchronous: flushed in a thread, the loop serves the call.
        assert await asyncio.to_thread(provider.force_flush, 10_000)
        (request,) = collector.received
        (resource_spans,) = request.resource_spans
        names = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        assert names["service.name"] == name
        assert [s.name for s in resource_spans.scope_spans[0].spans] == ["exported"]
    finally:
        await asyncio.to_thread(provider.shutdown)
        await server.stop(None)
