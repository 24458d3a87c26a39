"""No personal data, password or token reaches a log line, whatever the calls do."""

from __future__ import annotations

import json
import re

import grpc

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support import idnum
from tests.support.ids import uid

from .helpers import SIGN_IN, bearer, code_for, fails

PHONE = "13812345678"
EMAIL = "Li.Lei@Example.com"
PASSWORD = "Pa55-word-secret"
LEGAL_NAME = "张三丰"


async def test_no_secret_or_personal_data_in_logs(
    identity, identity_app, log_capture, mint, monkeypatch
):
    monkeypatch.setattr(identity_app.settings, "codes_per_address_minute", 0)  # two an address
    start = len(log_capture.lines)
    number = idnum.make(31, birthday="19850612")
    codes = [await code_for(identity, PHONE), await code_for(identity, EMAIL)]
    registered = await identity.RegisterMember(
        pb.RegisterMemberRequest(
            request_id=uid(),
            phone=PHONE,
            email=EMAIL,
            password=PASSWORD,
            channel=res.REGISTRATION_CHANNEL_APP,
            phone_verification_code=codes[0],
            email_verification_code=codes[1],
        )
    )
    member_id = registered.member.member_id
    login = await identity.Login(pb.LoginRequest(identifier=PHONE, password=PASSWORD))
    tokens = login.tokens
    codes.append(await code_for(identity, EMAIL, SIGN_IN))
    await fails(  # a wrong code, then the right one
        identity.Login(pb.LoginRequest(identifier=EMAIL, verification_code="000000")),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await identity.Login(pb.LoginRequest(identifier=EMAIL, verification_code=codes[-1]))
    await identity.VerifyRealName(
        pb.VerifyRealNameRequest(
            request_id=uid(), member_id=member_id, legal_name=LEGAL_NAME, id_number=number
        ),
        metadata=bearer(tokens.access_token),
    )
    refreshed = (
        await identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=tokens.refresh_token))
    ).tokens
    # Failures log too: each of these carries secrets in its request.
    await fails(
        identity.Login(pb.LoginRequest(identifier=EMAIL, password=PASSWORD + "x")),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await fails(
        identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=tokens.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await fails(
        identity.VerifyRealName(
            pb.VerifyRealNameRequest(
                request_id=uid(),
                member_id=member_id,
                legal_name=LEGAL_NAME,
                id_number=number[:17] + ("0" if number[17] != "0" else "1"),
            ),
            metadata=bearer(refreshed.access_token),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await fails(
        identity.GetMember(
            pb.GetMemberRequest(member_id=member_id),
            metadata=(("authorization", f"Bearer {tokens.access_token}x"),),
        ),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    created = await identity.CreateClient(
        pb.CreateClientRequest(
            request_id=uid(),
            client_id="log-probe",
            kind=res.CLIENT_KIND_SERVICE,
            scopes=["identity:read"],
        ),
        metadata=mint("ops-1", "operator", ["identity:admin", "identity:read"]),
    )
    rotated = await identity.RotateClientSecret(
        pb.RotateClientSecretRequest(request_id=uid(), client_id="log-probe"),
        metadata=mint("ops-1", "operator", ["identity:admin", "identity:read"]),
    )
    client_token = (
        await identity.IssueClientToken(
            pb.IssueClientTokenRequest(client_id="log-probe", client_secret=rotated.client_secret)
        )
    ).access_token

    lines = log_capture.lines[start:]
    assert len(lines) >= 10  # the calls were logged, so the checks below can fail
    # Raw lines and their decoded form: JSON escapes non-ASCII ("张" is "\u5f20" on the wire).
    decoded = [json.dumps(json.loads(line), ensure_ascii=False) for line in lines]
    text = "\n".join(lines + decoded)
    logged_methods = {json.loads(line).get("grpc_method", "").rsplit("/", 1)[-1] for line in lines}
    assert {"RegisterMember", "Login", "VerifyRealName", "RefreshToken", "IssueClientToken"} <= (
        logged_methods
    )  # the captured lines are about these calls
    forbidden = {
        "phone": [PHONE, "+86" + PHONE, "1234 5678"],
        "email": [EMAIL, EMAIL.lower(), "li.lei"],
        "password": [PASSWORD],
        "id number": [number, number[:17], "19850612"],
        "legal name": [LEGAL_NAME],
        "access token": [tokens.access_token, refreshed.access_token, client_token],
        "refresh token": [tokens.refresh_token, refreshed.refresh_token],
        "client secret": [created.client_secret, rotated.client_secret],
    }
    for what, values in forbidden.items():
        for value in values:
            assert value not in text, f"{what} leaked into the logs"
    # One-time codes (digits a timestamp may hold by chance: those are left out).
    untimed = "\n".join(
        json.dumps({k: v for k, v in json.loads(line).items() if k != "timestamp"})
        for line in lines
    )
    for code in codes:
        assert not re.search(rf"(?<![0-9]){code}(?![0-9])", untimed), "a code leaked into the logs"
    # Token pieces: a JWT's signature alone identifies it.
    for token in (tokens.access_token, refreshed.access_token, client_token):
        assert token.rsplit(".", 1)[1] not in text
