"""The fingerprint a request id is stored with keeps no secret of the request, not even hashed
(it is a fast hash: a password in it could be found by guessing)."""

from __future__ import annotations

import hashlib

from loyalty.identity.v1 import identity_service_pb2 as pb
from services.kit import idempotency


def test_secrets_do_not_enter_the_fingerprint():
    one = pb.CloseMemberRequest(request_id="r-1", member_id="m-1", password="first-secret")
    two = pb.CloseMemberRequest(request_id="r-1", member_id="m-1", password="other-secret")
    assert idempotency.fingerprint("CloseMember", one) == idempotency.fingerprint(
        "CloseMember", two
    )
    assert one.password == "first-secret"  # the request itself is left as it was
    with_secret = hashlib.sha256(b"CloseMember\0" + one.SerializeToString(deterministic=True))
    assert idempotency.fingerprint("CloseMember", one) != with_secret.digest()


def test_every_other_field_still_tells_requests_apart():
    one = pb.CloseMemberRequest(request_id="r-1", member_id="m-1", password="x")
    other = pb.CloseMemberRequest(request_id="r-1", member_id="m-2", password="x")
    assert idempotency.fingerprint("CloseMember", one) != idempotency.fingerprint(
        "CloseMember", other
    )
