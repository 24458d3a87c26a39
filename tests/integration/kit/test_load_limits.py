"""One caller cannot stall a service: calls beyond the process's limit are refused at once with
RetryInfo (others keep being served), and a huge request id costs its caller an error, not
every other caller their deadline."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.kit import auth, grpc_server
from tests.support.grpc_errors import assert_error

SLOW = "/kittest.Slow/Wait"


@pytest.fixture
async def slow_server():
    """A server with the kit's interceptor, a limit of 2 calls, and a method that waits."""
    release = asyncio.Event()

    async def wait(request: bytes, _context) -> bytes:
        await release.wait()
        return request

    server, port, _ = await grpc_server.build_server(
        servicers=[],
        domain="kittest.loyalty",
        verifier=auth.Verifier(auth.KeySet(), "issuer", "audience"),
        host="127.0.0.1",
        port=0,
        limits=grpc_server.Limits(concurrent_calls=2),
    )
    handler = grpc.unary_unary_rpc_method_handler(wait)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("kittest.Slow", {"Wait": handler}),)
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield channel.unary_unary(SLOW), release
    release.set()
    await channel.close()
    await server.stop(1)


async def test_calls_beyond_the_limit_are_refused_at_once_with_retry_info(slow_server):
    call, release = slow_server
    held = [asyncio.ensure_future(call(b"held", timeout=10)) for _ in range(2)]
    await asyncio.sleep(0.3)  # both are in progress, holding the two slots
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(b"third", timeout=5)
    failure = assert_error(refused, grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_REQUESTS")
    assert failure.retry_seconds == 1
    release.set()
    assert await asyncio.gather(*held) == [b"held", b"held"]
    assert await call(b"after", timeout=5) == b"after"  # the slots came back


async def test_a_megabyte_request_id_leaves_other_callers_their_deadline(identity_app, mint):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{identity_app.grpc_port}")
    stub = pb_grpc.IdentityServiceStub(channel)
    operator = mint("ops", kind="operator", scopes=["identity:read"])
    huge = pb.RegisterMemberRequest(
        request_id="r" * 1_000_000,
        phone="13800000000",
        password="long-enough-1",
        channel=1,
    )
    try:
        flood = [asyncio.ensure_future(stub.RegisterMember(huge, timeout=30)) for _ in range(4)]
        other = pb.GetMemberRequest(member_id=str(uuid.uuid4()))
        with pytest.raises(grpc.aio.AioRpcError) as answered:
            # A normal deadline: before the fix, logging the first huge id took minutes.
            await stub.GetMember(other, metadata=operator, timeout=2)
        assert answered.value.code() == grpc.StatusCode.NOT_FOUND
        for refused in await asyncio.gather(*flood, return_exceptions=True):
            assert isinstance(refused, grpc.aio.AioRpcError)
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await channel.close()


async def test_an_errors_reason_is_also_a_plain_text_trailer(identity_app):
    """buf curl prints the status details base64; with -v it prints trailers as text."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{identity_app.grpc_port}")
    try:
        call = pb_grpc.IdentityServiceStub(channel).RegisterMember(
            pb.RegisterMemberRequest(request_id="r-1", phone="123", channel=1)
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        trailers = dict(refused.value.trailing_metadata())
        assert trailers["error-reason"] == assert_error(refused).reason != ""
        assert trailers["error-domain"] == "identity.loyalty"
    finally:
        await channel.close()
