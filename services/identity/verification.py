"""The outside systems identity verifies people with, each behind a port: a real-name verifier,
a sender of one-time codes (SMS, e-mail) and a verifier of identity providers' assertions
(WeChat, QQ, Alipay, Apple).

Production plugs real ones: the settings IDENTITY_CODE_SENDER and IDENTITY_ASSERTION_VERIFIER
name a factory, `package.module:attribute`, called with identity's settings. Without a code
sender identity refuses to serve (it could register nobody); without an assertion verifier
every assertion is refused (`PROVIDER_NOT_CONFIGURED`). `make run` (deploy/local/run.sh) picks
the development ones, `dev-file` and `dev-plain`, which verify nothing and say so."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from services.kit import errors, logging

from .config import IdentitySettings
from .domain import id_number
from .domain.codes import Purpose

log = logging.get("identity.verification")

# Where the development sender writes codes when IDENTITY_DEV_CODES_DIR is not set: the
# checkout's ignored state directory, next to the development secrets.
DEV_CODES_DIR = Path(__file__).resolve().parents[2] / ".local" / "dev-codes"


class RealNameVerifier(Protocol):
    async def problem(self, legal_name: str, number: str) -> str | None:
        """Why the name and number do not verify, or None when they do."""


class FormatVerifier:
    """Accepts any well-formed number: the format and check character (checked by the caller)
    are the only checks."""

    async def problem(self, legal_name: str, number: str) -> str | None:
        return id_number.problem(number)


# ---------------------------------------------------------------- one-time codes


@dataclass(frozen=True)
class OutgoingCode:
    """A code to deliver: by SMS to a phone number (E.164) or by e-mail to an address."""

    channel: str  # "sms" | "email"
    address: str
    code: str
    purpose: Purpose
    expires_at: dt.datetime


class SendFailed(Exception):
    """The sender could not deliver the code (its provider refused or is away)."""


class CodeSender(Protocol):
    async def send(self, message: OutgoingCode) -> None:
        """Deliver the code, or raise SendFailed. It must never log the code."""


class DevFileSender:
    """DEVELOPMENT ONLY (IDENTITY_CODE_SENDER=dev-file): sends nothing. Each code is written to
    a file named by its address in `directory` (`.local/dev-codes/+8613812345678`), which
    holds the address's latest code; the directory and files are readable by their owner only.
    Codes never go to the log."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: OutgoingCode) -> None:
        await asyncio.to_thread(self._write, message)

    def path(self, address: str) -> Path:
        # An e-mail address may hold '/' and other characters a file name should not.
        return self.directory / re.sub(r"[^A-Za-z0-9@.+_-]", "_", address)

    def _write(self, message: OutgoingCode) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path(message.address)
        partial = path.with_name(f".{path.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(message.code + "\n")
        os.replace(partial, path)  # a reader sees the old code or the new one, never half


# ---------------------------------------------------------------- provider assertions


class AssertionRejected(Exception):
    """The provider does not vouch for the assertion (forged, expired, used, another app's)."""


class ProviderUnavailable(Exception):
    """The provider could not be asked (it may be retried later)."""


class ProviderNotConfigured(Exception):
    """No verifier is plugged for the provider."""


class AssertionVerifier(Protocol):
    async def subject(self, provider: str, assertion: str) -> str:
        """The member's subject at `provider` (a WeChat openid or unionid, an Apple `sub`, …)
        as the provider asserts it in `assertion` (a login code to exchange, a signed token to
        check). Raises AssertionRejected, ProviderUnavailable or ProviderNotConfigured."""


class NoAssertionVerifier:
    """The default: no provider is configured, so no assertion is taken."""

    async def subject(self, provider: str, assertion: str) -> str:
        raise ProviderNotConfigured(provider)


class DevPlainVerifier:
    """DEVELOPMENT ONLY (IDENTITY_ASSERTION_VERIFIER=dev-plain): the assertion `dev:<subject>`
    asserts `<subject>` at any provider. Nothing is checked."""

    async def subject(self, provider: str, assertion: str) -> str:
        kind, _, subject = assertion.partition(":")
        if kind != "dev" or not subject:
            raise AssertionRejected("the development verifier takes 'dev:<subject>'")
        return subject


# ---------------------------------------------------------------- choosing them


def code_sender(settings: IdentitySettings) -> CodeSender:
    """The sender IDENTITY_CODE_SENDER names; errors.Misconfigured (one line) without one."""
    chosen = settings.code_sender.strip()
    if not chosen:
        raise errors.Misconfigured(
            "IDENTITY_CODE_SENDER is not set: identity cannot send one-time codes. Name your "
            "SMS/e-mail sender's factory (IDENTITY_CODE_SENDER=package.module:factory), or, "
            "for development only, IDENTITY_CODE_SENDER=dev-file (make run sets it)."
        )
    if chosen == "dev-file":
        directory = Path(settings.dev_codes_dir) if settings.dev_codes_dir else DEV_CODES_DIR
        log.warning("development_code_sender", directory=str(directory), sends="nothing")
        return DevFileSender(directory)
    return _plugin("IDENTITY_CODE_SENDER", chosen, settings)


def assertion_verifier(settings: IdentitySettings) -> AssertionVerifier:
    """The verifier IDENTITY_ASSERTION_VERIFIER names; none refuses every assertion."""
    chosen = settings.assertion_verifier.strip()
    if not chosen:
        return NoAssertionVerifier()
    if chosen == "dev-plain":
        log.warning("development_assertion_verifier", checks="nothing")
        return DevPlainVerifier()
    return _plugin("IDENTITY_ASSERTION_VERIFIER", chosen, settings)


def _plugin(setting: str, value: str, settings: IdentitySettings) -> Any:
    """`package.module:factory`, called with the settings."""
    module_name, _, attribute = value.partition(":")
    if not module_name or not attribute:
        raise errors.Misconfigured(
            f"{setting}={value!r}: expected package.module:factory or a built-in name"
        )
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
        return factory(settings)
    except Exception as exc:  # one line saying what to fix, not a traceback
        raise errors.Misconfigured(
            f"{setting}={value!r} could not be loaded: {type(exc).__name__}: {exc}"
        ) from exc
