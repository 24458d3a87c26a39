"""grpc.aio server: health, reflection, and one interceptor for context, auth, errors, metrics,
traces."""

from __future__ import annotations

import asyncio
import importlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from opentelemetry import trace

from . import auth, db, errors, ids, logging, metrics, tracing

log = logging.get("kit.grpc")


class Interceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary call: its server span, request context in logs, load limit, bearer
    token, deadline, error mapping."""

    def __init__(
        self,
        domain: str,
        verifier: auth.Verifier,
        max_concurrent: int = 256,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.domain = domain
        self.verifier = verifier
        self.tracer = tracer or tracing.noop()
        # Beyond this many calls in progress a call is refused at once (RESOURCE_EXHAUSTED with
        # RetryInfo) rather than queued: a flood from one client must not make every other
        # caller wait behind it, and the refused caller learns when to come back.
        self.max_concurrent = max_concurrent
        self.active = 0

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = details.method

        async def call(request, context: grpc.aio.ServicerContext):
            return await self._call(method, inner, request, context)

        return grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    async def _call(self, method, inner, request, context):
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        # The method is one this server serves (intercept_service wraps no other), so it may
        # name the span; the caller's traceparent is checked by the propagator.
        service, _, name = method.lstrip("/").rpartition("/")
        with tracing.span(
            self.tracer,
            method.lstrip("/"),
            kind=tracing.SERVER,
            parent=tracing.extract(metadata),
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        ) as span:
            response, failure = await self._serve(method, inner, request, context, metadata)
            code = failure.code if failure else grpc.StatusCode.OK
            tracing.grpc_outcome(span, code, failure.reason if failure else None)
        if failure is None:
            return response
        status = rpc_status.to_status(errors.to_status(failure, self.domain))
        # The reason also travels as plain text: tools that print trailers but cannot decode
        # the status details (buf curl -v shows them base64) still tell a caller what to do.
        readable = (("error-reason", failure.reason), ("error-domain", self.domain))
        await context.abort_with_status(
            status._replace(trailing_metadata=(*status.trailing_metadata, *readable))
        )

    async def _serve(self, method, inner, request, context, metadata):
        """(the response, None) or (None, the failure the caller is told)."""
        structlog.contextvars.clear_contextvars()
        given = metadata.get("x-request-id") or getattr(request, "request_id", "")
        request_id = ids.identifier(given) if given else None
        logging.bind(
            service=self.domain.split(".")[0],
            request_id=request_id or str(uuid.uuid4()),
            trace_id=tracing.trace_id(),
            grpc_method=method,
        )
        if given and request_id is None:  # logged only as a bounded excerpt, never whole
            logging.bind(request_id_invalid=ids.excerpt(given))
        started = time.perf_counter()
        failure: errors.AppError | None = None
        admitted = self.active < self.max_concurrent
        if admitted:
            self.active += 1
        try:
            if not admitted:
                raise errors.resource_exhausted(
                    "TOO_MANY_REQUESTS", "the service is at its limit of calls in progress", 1
                )
            auth.current.set(await self._principal(metadata))
            remaining = context.time_remaining()
            async with asyncio.timeout(remaining):
                return await inner(request, context), None
        except errors.AppError as exc:
            failure = exc
        except NotImplementedError:  # a generated servicer's method nobody has written yet
            failure = errors.AppError(
                grpc.StatusCode.UNIMPLEMENTED, "UNIMPLEMENTED", "this method is not served yet"
            )
        except TimeoutError:
            failure = errors.AppError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "DEADLINE_EXCEEDED",
                "the deadline passed before the call finished",
            )
        except Exception as exc:
            if db.is_transient(exc):  # the database is briefly away: the caller may retry
                log.warning("grpc_database_unavailable", error=type(exc).__name__)
                failure = errors.unavailable("DATABASE_UNAVAILABLE", "the database is unavailable")
            else:
                log.exception("grpc_internal_error")
                failure = errors.AppError(grpc.StatusCode.INTERNAL, "INTERNAL", "internal error")
        finally:
            if admitted:
                self.active -= 1
            code = failure.code.name if failure else "OK"
            metrics.GRPC_CALLS.labels(method, code).inc()
            metrics.GRPC_LATENCY.labels(method).observe(time.perf_counter() - started)
            log.info(
                "grpc_call",
                code=code,
                reason=failure.reason if failure else None,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
        return None, failure

    async def _principal(self, metadata: dict[str, str]) -> auth.Principal | None:
        header = metadata.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise errors.unauthenticated("INVALID_TOKEN", "expected 'Bearer <token>'")
        return await self.verifier.verify(token.strip())


@dataclass(frozen=True)
class GrpcService:
    """A servicer with what the server needs of it, all read off its generated base class:
    the `add_<X>Servicer_to_server` function and the service's full proto name."""

    servicer: object
    add: Callable[[object, grpc.aio.Server], None]
    name: str

    @classmethod
    def of(cls, servicer: object) -> GrpcService:
        for base in type(servicer).__mro__:
            if base.__module__.endswith("_pb2_grpc") and base.__name__.endswith("Servicer"):
                stubs = importlib.import_module(base.__module__)
                messages = importlib.import_module(base.__module__.removesuffix("_grpc"))
                service = messages.DESCRIPTOR.services_by_name[
                    base.__name__.removesuffix("Servicer")
                ]
                return cls(
                    servicer, getattr(stubs, f"add_{base.__name__}_to_server"), service.full_name
                )
        raise TypeError(f"{type(servicer).__name__} does not implement a generated gRPC servicer")


@dataclass(frozen=True)
class Limits:
    """What one process takes on at once (settings `grpc_max_*`)."""

    concurrent_calls: int = 256
    streams_per_connection: int = 128  # one connection cannot take every call slot
    message_bytes: int = 4 * 1024 * 1024


async def build_server(
    *,
    servicers: list[object],
    domain: str,
    verifier: auth.Verifier,
    host: str,
    port: int,
    limits: Limits | None = None,
    tracer: trace.Tracer | None = None,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """A server with health, reflection and the interceptor, serving `servicers`."""
    limits = limits or Limits()
    server = grpc.aio.server(
        interceptors=[Interceptor(domain, verifier, limits.concurrent_calls, tracer)],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_concurrent_streams", limits.streams_per_connection),
            ("grpc.max_receive_message_length", limits.message_bytes),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    for service in map(GrpcService.of, servicers):
        service.add(service.servicer, server)
        names.append(service.name)
        await health_servicer.set(service.name, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(names, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    return server, bound, health_servicer
