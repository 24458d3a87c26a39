"""OpenTelemetry traces: one tracer provider per service, W3C trace context on calls and events.

A call's trace goes from the gRPC server span (`traceparent` in the call's metadata, when the
caller sends one) to a span for each event written to the outbox in its transaction; the outbox
row keeps that span's `traceparent`, the relay's publish span continues it and puts its own on
the message, and every consumer's span continues that one: one trace from the call through the
broker to each service the call set in motion.

Spans are always made, so logs carry real trace ids and a trace crosses services whether or not
this process exports; they leave the process only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: then an OTLP/gRPC exporter behind a batch
processor sends them (the exporter reads its other `OTEL_EXPORTER_OTLP_*` settings itself).
Unset, a span costs its ids and a few attribute writes, and nothing is sent or kept.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVER = SpanKind.SERVER
PRODUCER = SpanKind.PRODUCER
CONSUMER = SpanKind.CONSUMER
INTERNAL = SpanKind.INTERNAL

# W3C trace context only, whatever OTEL_PROPAGATORS says: `traceparent` is the header the
# suite's calls and events carry (docs/asyncapi.yaml), and the propagator validates it.
_PROPAGATOR = TraceContextTextMapPropagator()
_HEADERS = ("traceparent", "tracestate")
ENDPOINT_SETTINGS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

# One provider per service name. A deployed process runs one service; the tests run several in
# one process, each with its own `service.name`, which one global provider could not give.
_providers: dict[str, TracerProvider] = {}

# The codes that mean the server failed (OpenTelemetry's gRPC conventions for server spans);
# the others are the caller's doing and leave the span's status unset.
_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def exporting() -> bool:
    """Whether spans are sent anywhere: an OTLP endpoint is configured."""
    return any(os.environ.get(name) for name in ENDPOINT_SETTINGS)


def provider(service: str) -> TracerProvider:
    """The service's tracer provider, made once per process (tests add processors to it)."""
    made = _providers.get(service)
    if made is None:
        # The sampler is the SDK's default, parent-based and always on (OTEL_TRACES_SAMPLER
        # changes it); OTEL_RESOURCE_ATTRIBUTES adds to the resource, not to service.name.
        made = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
        if exporting():
            # Imported only when used: a process that exports nothing does not load it.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            made.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _providers[service] = made
    return made


def tracer(service: str) -> trace.Tracer:
    return provider(service).get_tracer("services.kit")


def noop() -> trace.Tracer:
    """For kit parts built without a service (tests, benchmarks): a trace context passes through
    them unchanged and no span is made."""
    return trace.NoOpTracer()


def extract(carrier: Mapping[str, Any]) -> Context:
    """The remote trace context in `carrier` (gRPC metadata, AMQP headers, an outbox row's
    traceparent); a missing or malformed one gives an empty context (a new trace)."""
    found = {}
    for name in _HEADERS:
        value = carrier.get(name)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if isinstance(value, str):
            found[name] = value
    return _PROPAGATOR.extract(found, context=Context())


def traceparent() -> str | None:
    """The current span's W3C traceparent (None outside any valid span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def trace_id() -> str:
    """The current trace's id for the logs; a new random one outside any trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else uuid.uuid4().hex


def current() -> trace.Span:
    return trace.get_current_span()


def fail(span: trace.Span, what: str) -> None:
    """Mark `span` failed with `what`: a name of the code's own (an exception's type, a reason),
    never a message, which may carry what a caller sent."""
    span.set_status(Status(StatusCode.ERROR, what))
    span.set_attribute("error.type", what)


@contextlib.contextmanager
def span(
    tracer: trace.Tracer,
    name: str,
    *,
    kind: SpanKind = INTERNAL,
    parent: Context | None = None,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[trace.Span]:
    """A span, current for the block, under `parent` (default: the current span). An exception
    leaving the block marks it failed by the exception's type alone (see `fail`)."""
    with tracer.start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as made:
        try:
            yield made
        except BaseException as exc:
            fail(made, type(exc).__name__)
            raise


def grpc_outcome(span: trace.Span, code: grpc.StatusCode, reason: str | None) -> None:
    """A server span's status from the call's code (and the suite's reason, its own constant)."""
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if reason:
        span.set_attribute("loyalty.error.reason", reason)
    if code in _SERVER_FAULTS:
        fail(span, reason or code.name)
