"""Fakes of the outside systems identity relies on (services/identity/verification.py): a code
sender that keeps what it would send, and an assertion verifier that vouches for what a test
signs. identity's tests plug them into the running app (tests/integration/identity/conftest.py);
`codes` and `assertions` are the ones plugged.

Any test registering members proves their contacts with `proven` (or `code_for`), reading the
codes back from the sender the app has: these fakes, or the development sender the harness
gives identity elsewhere (codes in files)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from services.identity.domain import contact
from services.identity.domain.accounts import PROVIDERS
from services.identity.verification import (
    AssertionRejected,
    CodeSender,
    DevFileSender,
    OutgoingCode,
    ProviderNotConfigured,
    ProviderUnavailable,
    SendFailed,
)


class FakeCodeSender:
    """Delivers nothing; keeps every code it was given, in order. `failing` makes it refuse."""

    def __init__(self) -> None:
        self.sent: list[OutgoingCode] = []
        self.failing = False

    def reset(self) -> None:
        self.sent.clear()
        self.failing = False

    async def send(self, message: OutgoingCode) -> None:
        if self.failing:
            raise SendFailed("the fake sender is down")
        self.sent.append(message)

    def to(self, address: str) -> list[OutgoingCode]:
        """What went to `address`: an e-mail address, or a phone number in any form."""
        wanted = _canonical(address)
        return [m for m in self.sent if m.address == wanted]

    def last(self, address: str) -> str:
        """The latest code sent to `address`."""
        sent = self.to(address)
        assert sent, f"no code was sent to {address}"
        return sent[-1].code


def _canonical(address: str) -> str:
    if "@" in address:
        return contact.normalize_email(address) or address
    return contact.normalize_phone(address) or address


class FakeAssertions:
    """A provider that vouches for assertions `sign` made (an HMAC under a key of its own,
    bound to the provider), and for nothing else. `down` makes it unreachable; `providers`
    are the ones configured; `asked` counts the questions."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self.reset()

    def reset(self) -> None:
        self.down = False
        self.providers = set(PROVIDERS)
        self.asked = 0

    def _mac(self, provider: str, subject: str) -> str:
        mac = hmac.new(self._key, f"{provider}\0{subject}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def sign(self, provider: str, subject: str) -> str:
        """An assertion by `provider` that the user is its `subject`."""
        encoded = base64.urlsafe_b64encode(subject.encode()).decode().rstrip("=")
        return f"{provider}.{encoded}.{self._mac(provider, subject)}"

    async def subject(self, provider: str, assertion: str) -> str:
        self.asked += 1
        if self.down:
            raise ProviderUnavailable(provider)
        if provider not in self.providers:
            raise ProviderNotConfigured(provider)
        signed_by, _, rest = assertion.partition(".")
        encoded, _, mac = rest.partition(".")
        try:
            subject = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            raise AssertionRejected("not an assertion") from None
        if signed_by != provider or not hmac.compare_digest(mac, self._mac(provider, subject)):
            raise AssertionRejected("not signed by this provider")
        return subject


codes = FakeCodeSender()
assertions = FakeAssertions()


def sent_code(sender: CodeSender, address: str) -> str:
    """The latest code `sender` (a fake, or the development sender) was given for `address`."""
    if isinstance(sender, FakeCodeSender):
        return sender.last(address)
    if isinstance(sender, DevFileSender):
        return sender.path(_canonical(address)).read_text().strip()
    raise TypeError(f"no way to read the codes {type(sender).__name__} sends")


async def code_for(
    stub, sender: CodeSender, address: str, purpose: int = res.VERIFICATION_PURPOSE_REGISTER
) -> str:
    """A code identity sends to `address` (a phone number, or an e-mail address), as its owner
    reads it: SendVerificationCode, then what `sender` (the app's) was given."""
    field = "email" if "@" in address else "phone"
    await stub.SendVerificationCode(
        pb.SendVerificationCodeRequest(purpose=purpose, **{field: address})
    )
    return sent_code(sender, address)


async def proven(
    stub, sender: CodeSender, request: pb.RegisterMemberRequest
) -> pb.RegisterMemberRequest:
    """The registration with the codes identity sent to its phone number and e-mail address."""
    if request.phone:
        request.phone_verification_code = await code_for(stub, sender, request.phone)
    if request.email:
        request.email_verification_code = await code_for(stub, sender, request.email)
    return request


def code_sender(settings) -> FakeCodeSender:
    """A factory IDENTITY_CODE_SENDER may name: `tests.support.identity_fakes:code_sender`."""
    return codes


def assertion_verifier(settings) -> FakeAssertions:
    """A factory IDENTITY_ASSERTION_VERIFIER may name."""
    return assertions
