"""AIP-155 request ids on real PostgreSQL: one run per id, replays, reuse, failed work."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from services.kit import auth, errors, idempotency
from tests.support.grpc_errors import assert_error


def _messages():
    """Request and response types of a made-up RPC, so the kit's tests need no service."""
    proto = descriptor_pb2.FileDescriptorProto(name="kit_test_idempotency.proto", package="kittest")
    string = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    for name, fields in (("DoRequest", ("request_id", "what")), ("DoResponse", ("done", "secret"))):
        message = proto.message_type.add(name=name)
        for number, field in enumerate(fields, 1):
            message.field.add(name=field, number=number, type=string, label=optional)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("kittest.DoRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("kittest.DoResponse")),
    )


Request, Response = _messages()
METHOD = "/kittest.Service/Do"


class Work:
    """Counts its runs and writes a row in the caller's transaction, as a real change would."""

    def __init__(self, fail_times: int = 0, seconds: float = 0.0) -> None:
        self.runs = 0
        self.fail_times = fail_times
        self.seconds = seconds

    async def __call__(self, conn):
        self.runs += 1
        await conn.execute("INSERT INTO kit_test_effects (kind, key) VALUES ('work', 'x')")
        await asyncio.sleep(self.seconds)
        if self.runs <= self.fail_times:
            raise RuntimeError("the work failed")
        return Response(done=f"run {self.runs}", secret="shown once")


async def _effects(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM kit_test_effects WHERE kind = 'work'")


async def test_concurrent_calls_with_one_request_id_run_the_work_once(kit_db):
    work = Work(seconds=0.2)
    request = Request(request_id="req-1", what="a")
    responses = await asyncio.gather(
        *(idempotency.run_once(kit_db, METHOD, request, Response, work) for _ in range(20))
    )
    assert work.runs == 1
    assert await _effects(kit_db) == 1
    assert {r.done for r in responses} == {"run 1"}


async def test_replay_returns_the_stored_response(kit_db):
    work = Work()
    request = Request(request_id="req-2", what="a")
    first = await idempotency.run_once(
        kit_db, METHOD, request, Response, work, stored=lambda r: Response(done=r.done)
    )
    again = await idempotency.run_once(kit_db, METHOD, request, Response, work)
    assert first.secret == "shown once"
    assert again == Response(done="run 1")  # the stripped form is what replays return
    assert work.runs == 1


async def test_same_request_id_for_a_different_request_is_rejected(kit_db):
    work = Work()
    await idempotency.run_once(
        kit_db, METHOD, Request(request_id="req-3", what="a"), Response, work
    )
    for other_request, method in (
        (Request(request_id="req-3", what="b"), METHOD),
        (Request(request_id="req-3", what="a"), "/kittest.Service/Other"),
    ):
        with pytest.raises(errors.AppError) as raised:
            await idempotency.run_once(kit_db, method, other_request, Response, work)
        assert_error(raised, grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED", ["request_id"])
    assert work.runs == 1


async def test_failed_work_stores_nothing_so_a_retry_runs(kit_db):
    work = Work(fail_times=1)
    request = Request(request_id="req-4", what="a")
    with pytest.raises(RuntimeError):
        await idempotency.run_once(kit_db, METHOD, request, Response, work)
    assert await kit_db.fetchval("SELECT count(*) FROM idempotency") == 0
    assert await _effects(kit_db) == 0  # the work's own writes rolled back with it
    response = await idempotency.run_once(kit_db, METHOD, request, Response, work)
    assert response.done == "run 2"
    assert await _effects(kit_db) == 1


async def test_concurrent_retry_after_a_failure_runs_once_more(kit_db):
    """The first call fails while others wait on its key row: one waiter then does the work."""
    work = Work(fail_times=1, seconds=0.2)
    request = Request(request_id="req-5", what="a")
    results = await asyncio.gather(
        *(idempotency.run_once(kit_db, METHOD, request, Response, work) for _ in range(10)),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], RuntimeError)
    assert {r.done for r in results if not isinstance(r, Exception)} == {"run 2"}
    assert work.runs == 2
    assert await _effects(kit_db) == 1


_FORM = "at most 128 characters: letters, digits and . _ : / @ + = -"


@pytest.mark.parametrize(
    ("request_id", "violation"),
    [
        ("", "required"),
        ("x" * 129, _FORM),
        ("nul\x00byte", _FORM),
        ("line\nbreak", _FORM),
        ("with space", _FORM),
        ("\u8ba2\u5355-1", _FORM),
    ],
)
async def test_request_id_is_validated(kit_db, request_id, violation):
    with pytest.raises(errors.AppError) as raised:
        await idempotency.run_once(kit_db, METHOD, Request(request_id=request_id), Response, Work())
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.violations == [("request_id", violation)]


def _as(subject: str | None):
    """Run as this caller (an operator), or as nobody."""
    principal = auth.Principal(subject=subject, kind="operator") if subject else None
    return auth.current.set(principal)


async def test_a_request_id_belongs_to_its_caller(kit_db):
    work = Work()
    token = _as("alice")
    try:
        first = await idempotency.run_once(
            kit_db, METHOD, Request(request_id="shared", what="a"), Response, work
        )
        _as("mallory")
        # The same id with the same request: mallory gets a run of her own, not alice's answer.
        theirs = await idempotency.run_once(
            kit_db, METHOD, Request(request_id="shared", what="a"), Response, work
        )
        # The same id with another request: no REQUEST_ID_REUSED, alice's id is not mallory's.
        other = await idempotency.run_once(
            kit_db, METHOD, Request(request_id="other-id", what="b"), Response, work
        )
        _as("alice")
        again = await idempotency.run_once(
            kit_db, METHOD, Request(request_id="shared", what="a"), Response, work
        )
    finally:
        auth.current.reset(token)
    assert (first.done, theirs.done, other.done, again.done) == ("run 1", "run 2", "run 3", "run 1")
    keys = await kit_db.fetch("SELECT principal, request_id FROM idempotency ORDER BY 1, 2")
    assert [tuple(k) for k in keys] == [
        ("operator:alice", "shared"),
        ("operator:mallory", "other-id"),
        ("operator:mallory", "shared"),
    ]


async def test_erasing_a_subject_forgets_the_responses_about_it(kit_db):
    work = Work()
    request = Request(request_id="about-m1", what="profile")
    await idempotency.run_once(kit_db, METHOD, request, Response, work, subject="m-1")
    await idempotency.run_once(
        kit_db, METHOD, Request(request_id="about-m2"), Response, work, subject=lambda r: "m-2"
    )
    async with kit_db.acquire() as conn:
        assert await idempotency.erase(conn, "m-1") == 1
    replay = await idempotency.run_once(kit_db, METHOD, request, Response, work, subject="m-1")
    assert replay.done == "run 3"  # ran again: nothing about m-1 was kept to replay
    assert (
        await kit_db.fetchval("SELECT subject FROM idempotency WHERE request_id = 'about-m2'")
        == "m-2"
    )
