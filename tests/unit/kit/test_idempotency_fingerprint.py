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


def _nested_request_class():
    """A request holding its secrets a level down, in a list (as a checkout's card PINs)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(name="kit_test_nested.proto", package="kittest")
    source = file.message_type.add(name="Source")
    source.field.add(name="card_number", number=1, type=9, label=1)
    source.field.add(name="pin", number=2, type=9, label=1)
    request = file.message_type.add(name="PayRequest")
    request.field.add(name="request_id", number=1, type=9, label=1)
    request.field.add(name="sources", number=2, type=11, label=3, type_name=".kittest.Source")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("kittest.PayRequest"))


def test_secrets_at_any_depth_stay_out():
    pay = _nested_request_class()
    one = pay(request_id="r-1")
    one.sources.add(card_number="6200000000000003", pin="11111111111111111111")
    two = pay(request_id="r-1")
    two.sources.add(card_number="6200000000000003", pin="22222222222222222222")
    other_card = pay(request_id="r-1")
    other_card.sources.add(card_number="6200000000000011", pin="11111111111111111111")
    assert idempotency.fingerprint("Pay", one) == idempotency.fingerprint("Pay", two)
    assert idempotency.fingerprint("Pay", one) != idempotency.fingerprint("Pay", other_card)
    assert one.sources[0].pin == "11111111111111111111"  # the request itself is untouched


def test_redemption_and_partner_codes_stay_out():
    from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
    from loyalty.subscription.v1 import subscription_service_pb2 as sub_pb

    def redeem(code: str) -> bytes:
        request = sub_pb.RedeemCodeRequest(request_id="r", member_id="m", code=code)
        return idempotency.fingerprint("RedeemCode", request)

    def upload(codes: list[str]) -> bytes:
        request = admin_pb.UploadPerkCodesRequest(request_id="r", codes=codes)
        return idempotency.fingerprint("UploadPerkCodes", request)

    assert redeem("ABCD-EFGH-JKMN-PQRS") == redeem("0000-0000-0000-0000")
    assert upload(["V1", "V2"]) == upload(["X9"])
