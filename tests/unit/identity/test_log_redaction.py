"""The kit's log redactor keeps identity's secrets and personal data out of log lines."""

from __future__ import annotations

import json
import logging

import pytest

from services.kit import logging as kit_logging
from tests.support import logs

PHONE, EMAIL, PASSWORD = "+8613812345678", "li.lei@example.com", "s3cret-pass"
ID_NUMBER, LEGAL_NAME = "11010519491231002X", "张三丰"
JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJtIn0.c2lnbmF0dXJlLWJ5dGVz"
REFRESH = "Jx3kq9Vf1u0bS9wq2mZ4yHh7rT5pL8nE6cA0dG2iK4o"
SECRETS = [PHONE, "13812345678", EMAIL, PASSWORD, ID_NUMBER, LEGAL_NAME, JWT, REFRESH]


def redact(event: dict) -> dict:
    return kit_logging.redact(None, "info", event)


def leaked(value) -> list[str]:
    text = json.dumps(value, ensure_ascii=False)
    return [s for s in SECRETS if s in text]


def test_sensitive_keys_are_redacted_whatever_their_value():
    event = {
        "event": "login",
        "password": PASSWORD,
        "phone": PHONE,
        "email": EMAIL,
        "access_token": JWT,
        "refresh_token": REFRESH,
        "token": REFRESH,
        "authorization": f"Bearer {JWT}",
        "client_secret": REFRESH,
        "secret": REFRESH,
        "id_number": ID_NUMBER,
        "legal_name": LEGAL_NAME,
        "identifier": PHONE,
        "subject": "wx-openid-123",
        "member_id": "0190a8e2-5b1c-7d3e-8f4a-9b2c3d4e5f60",
    }
    out = redact(dict(event))
    for key in event:
        if key not in ("event", "member_id"):
            assert out[key] == "[redacted]", key
    assert out["event"] == "login"
    assert out["member_id"] == event["member_id"]  # ids are not personal data


def test_key_match_ignores_case():
    out = redact({"Password": PASSWORD, "PHONE": PHONE, "Authorization": f"Bearer {JWT}"})
    assert set(out.values()) == {"[redacted]"}


def test_nested_dicts_and_lists_are_redacted():
    event = {
        "event": "request",
        "request": {"phone": PHONE, "profile": {"nickname": "lei"}, "password": PASSWORD},
        "batch": [{"refresh_token": REFRESH}, {"id_number": ID_NUMBER}, ("x", JWT)],
    }
    out = redact(event)
    assert leaked(out) == []
    assert out["request"]["profile"] == {"nickname": "lei"}


@pytest.mark.parametrize(
    "text",
    [
        f"login failed for {PHONE}",
        "login failed for 13812345678",
        f"mail to {EMAIL} bounced",
        f"header was Bearer {JWT}",
        f"verify {ID_NUMBER} rejected",
        f"verify {ID_NUMBER.lower()} rejected",
        "broker amqp://guest:s3cret-pass@rabbit:5672/ down",
        "db postgresql://loyalty:s3cret-pass@pg/identity down",
    ],
)
def test_values_that_look_personal_are_masked_in_free_text(text):
    out = redact({"event": text, "detail": text, "args": [text]})
    assert leaked(out) == []
    assert "[redacted]" in out["event"]


def test_ordinary_text_survives():
    out = redact({"event": "grpc_call", "code": "OK", "ms": 1.5, "count": 12345})
    assert out == {"event": "grpc_call", "code": "OK", "ms": 1.5, "count": 12345}


def test_the_production_formatter_redacts_structlog_and_stdlib_lines():
    capture = logs.Capture()
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(capture)
    try:
        kit_logging.get("tests.redaction").info(
            "signed_in", phone=PHONE, password=PASSWORD, note=f"token {JWT}", legal_name=LEGAL_NAME
        )
        logger.warning("stdlib line for %s with %s", EMAIL, ID_NUMBER)
    finally:
        logger.removeHandler(capture)
    assert len(capture.lines) == 2
    # Decoded, because JSON escapes non-ASCII: a leaked "张三丰" would be "\u5f20…" on the wire.
    assert leaked([json.loads(line) for line in capture.lines]) == []
    assert leaked(capture.text()) == []
    assert "signed_in" in capture.text()


# Gaps found in the kit's redactor (services/kit is owned elsewhere; reported, not fixed here).
# strict: when the kit is fixed these start passing and the marker must go.


def test_camel_case_keys_of_proto_json_are_redacted():
    # MessageToDict(request) is how a proto reaches a log line; its keys are camelCase.
    out = redact({"refreshToken": REFRESH, "legalName": LEGAL_NAME, "clientSecret": REFRESH})
    assert leaked(out) == []


def test_spaced_phone_number_in_free_text_is_masked():
    out = redact({"event": "login failed for +86 138 1234 5678"})
    assert "1234 5678" not in out["event"]


def test_a_member_id_whose_last_group_is_all_digits_survives():
    # About one UUID in 200 ends in 11+ decimal digits; such ids are garbled in every log line.
    member_id = "0190a8e2-5b1c-7d3e-8f4a-000000000001"
    assert redact({"member_id": member_id})["member_id"] == member_id
